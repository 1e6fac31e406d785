/* config.h - config.json of a HuggingFace ALBERT checkpoint. */
#ifndef EB_MODEL_CONFIG_H
#define EB_MODEL_CONFIG_H

#include "edgebert.h"
#include "model/albert.h"

/* Parse config.json text; `name` is used in messages.  Every field that
 * changes the math is read (AlbertConfig defaults otherwise) and checked. */
eb_status eb_config_parse(const char *json, size_t len, const char *name, eb_config *cfg,
                          eb_model_extras *extras, eb_error *err);
eb_status eb_config_load(const char *path, eb_config *cfg, eb_model_extras *extras, eb_error *err);
/* Serialise (HF-compatible, plus edgebert_* extras); caller frees with free(). */
char *eb_config_to_json(const eb_config *cfg, const eb_model_extras *extras);
/* Sensible defaults (AlbertConfig's, with num_labels 2). */
void eb_config_default(eb_config *cfg, eb_model_extras *extras);
const char *eb_activation_name(eb_activation a);

#endif
