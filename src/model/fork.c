/* fork.c - a clone of a loaded model that reads other word embeddings (the
 * ReRAM fault study runs faulty embeddings through the shared model). */
#include <string.h>

#include "model/model_internal.h"
#include "util/util.h"

eb_status eb_model_fork_embeddings(const eb_model *m, const float *word_emb, eb_model **out,
                                   eb_error *err) {
    if (!out) return eb_fail(err, EB_ERR_ARG, "model fork: no output");
    *out = NULL;
    if (!m || !word_emb) return eb_fail(err, EB_ERR_ARG, "model fork: no model or embeddings");
    if (m->n_tasks < 1) return eb_fail(err, EB_ERR_ARG, "model fork: the model has no task");
    const eb_config *c0 = &m->tasks[0].cfg;
    for (int i = 1; i < m->n_tasks; i++) {
        const eb_config *c = &m->tasks[i].cfg;
        if (c->vocab_size != c0->vocab_size || c->embedding_size != c0->embedding_size)
            return eb_fail(err, EB_ERR_ARG,
                           "model fork: task %s has %dx%d word embeddings, task %s %dx%d",
                           m->tasks[i].name, c->vocab_size, c->embedding_size, m->tasks[0].name,
                           c0->vocab_size, c0->embedding_size);
    }
    eb_model *c = eb_calloc(&m->alloc, 1, sizeof *c);
    if (!c) return eb_fail(err, EB_ERR_NOMEM, "model fork: out of memory");
    c->alloc = m->alloc;
    c->log = m->log;
    c->log_ud = m->log_ud;
    memcpy(c->path, m->path, sizeof c->path);
    c->tok = m->tok;
    c->tasks = eb_calloc(&m->alloc, (size_t)m->n_tasks, sizeof *c->tasks);
    if (!c->tasks) {
        eb_free(&m->alloc, c);
        return eb_fail(err, EB_ERR_NOMEM, "model fork: out of memory");
    }
    /* The tasks' pointers (layers, off-ramps, bitmasks, predictor table)
     * keep pointing into m; only the word embeddings change. */
    memcpy(c->tasks, m->tasks, sizeof *c->tasks * (size_t)m->n_tasks);
    c->n_tasks = m->n_tasks;
    for (int i = 0; i < c->n_tasks; i++)
        c->tasks[i].w.word_emb = word_emb;
    c->fork_of = m;
    *out = c;
    return EB_OK;
}
