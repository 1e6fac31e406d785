/* test_data.c - GLUE readers on the real files (row counts, rows checked by
 * hand), synthetic QQP/MNLI/test-layout files, hostile rows, task names and
 * label maps, and the metrics against hand-computed values. */
#include "testutil.h"

#include <math.h>
#include <unistd.h>

#include "edgebert/data.h"

/* ---------------------------------------------------------------- */
/* helpers                                                            */
/* ---------------------------------------------------------------- */

static eb_dataset *load_real(const char *rel, const char *task) {
    char path[512];
    if (!eb_test_data_path(path, sizeof path, rel)) {
        fprintf(stderr, "SKIP: %s missing (shared data not present)\n", path);
        return NULL;
    }
    eb_dataset *ds = NULL;
    eb_error err = {0};
    eb_status s = eb_dataset_load(path, task, NULL, &ds, &err);
    if (s) fprintf(stderr, "load %s: %s\n", path, err.msg);
    assert_int_equal(s, EB_OK);
    assert_non_null(ds);
    return ds;
}

static eb_status load_str(const char *text, const char *task, eb_dataset **ds, eb_error *err) {
    return eb_dataset_load_buffer(text, strlen(text), "mem.tsv", task, NULL, ds, err);
}

/* Write text to a fresh temp file; returns its path in buf. */
static void write_temp(char *buf, size_t cap, const char *text, size_t len) {
    snprintf(buf, cap, "/tmp/eb_test_data_XXXXXX");
    int fd = mkstemp(buf);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
}

static long count_label(const eb_dataset *ds, int label) {
    long c = 0;
    for (int i = 0; i < ds->n; i++)
        c += ds->rows[i].label == label;
    return c;
}

/* ---------------------------------------------------------------- */
/* real GLUE files                                                    */
/* ---------------------------------------------------------------- */

static void test_sst2(void **state) {
    (void)state;
    eb_dataset *ds = load_real("glue/SST-2/train.tsv", "sst2");
    if (!ds) skip();
    assert_int_equal(ds->n, 67349);
    assert_true(ds->labeled);
    assert_string_equal(ds->rows[0].text_a, "hide new secretions from the parental units ");
    assert_null(ds->rows[0].text_b);
    assert_int_equal(ds->rows[0].label, 0);
    assert_int_equal(ds->rows[0].line, 2);
    assert_string_equal(ds->rows[67348].text_a, "this new jangle of noise , mayhem and stupidity "
                                                "must be a serious contender for the title . ");
    assert_int_equal(ds->rows[67348].line, 67350);
    assert_int_equal(count_label(ds, 1), 37569); /* awk over column 2 */
    assert_int_equal(count_label(ds, 0), 67349 - 37569);
    eb_dataset_free(ds);

    ds = load_real("glue/SST-2/dev.tsv", "SST-2"); /* alias, upper case */
    assert_int_equal(ds->n, 872);
    assert_string_equal(ds->rows[0].text_a, "it 's a charming and often affecting journey . ");
    assert_int_equal(ds->rows[0].label, 1);
    assert_string_equal(ds->rows[871].text_a,
                        "looking aristocratic , luminous yet careworn in jane hamilton 's "
                        "exemplary costumes , rampling gives a performance that could not be "
                        "improved upon . ' ");
    assert_int_equal(ds->rows[871].label, 1);
    assert_int_equal(count_label(ds, 1), 444);
    assert_true(isnan(ds->rows[5].score));
    eb_dataset_free(ds);
}

static void test_cola(void **state) {
    (void)state;
    eb_dataset *ds = load_real("glue/CoLA/train.tsv", "cola");
    if (!ds) skip();
    assert_int_equal(ds->n, 8551);
    assert_string_equal(ds->rows[0].text_a,
                        "Our friends won't buy this analysis, let alone the next one we propose.");
    assert_int_equal(ds->rows[0].line, 1); /* no header */
    assert_string_equal(ds->rows[8550].text_a, "What all did you get for Christmas?");
    assert_int_equal(count_label(ds, 1), 6023);
    eb_dataset_free(ds);

    ds = load_real("glue/CoLA/dev.tsv", "CoLA");
    assert_int_equal(ds->n, 1043);
    assert_string_equal(ds->rows[0].text_a, "The sailors rode the breeze clear of the rocks.");
    assert_int_equal(ds->rows[0].label, 1);
    /* line 5: cj99 0 * As you eat the most, you want the least. */
    assert_string_equal(ds->rows[4].text_a, "As you eat the most, you want the least.");
    assert_int_equal(ds->rows[4].label, 0);
    /* the last row has no final newline */
    assert_string_equal(ds->rows[1042].text_a, "John talked to Bill about himself.");
    assert_int_equal(ds->rows[1042].line, 1043);
    assert_int_equal(count_label(ds, 1), 721);
    assert_int_equal(count_label(ds, 0), 322);
    eb_dataset_free(ds);
}

static void test_mrpc(void **state) {
    (void)state;
    eb_dataset *ds = load_real("glue/MRPC/train.tsv", "mrpc");
    if (!ds) skip();
    assert_int_equal(ds->n, 3668);
    assert_int_equal(ds->rows[0].label, 1);
    assert_string_equal(ds->rows[0].text_a,
                        "Amrozi accused his brother , whom he called \" the witness \" , of "
                        "deliberately distorting his evidence .");
    assert_string_equal(ds->rows[0].text_b,
                        "Referring to him as only \" the witness \" , Amrozi accused his brother "
                        "of deliberately distorting his evidence .");
    assert_int_equal(ds->rows[3667].label, 0);
    assert_int_equal(count_label(ds, 1), 2474);
    eb_dataset_free(ds);

    /* the header starts with a UTF-8 BOM: "Quality" must still be found */
    ds = load_real("glue/MRPC/dev.tsv", "mrpc");
    assert_int_equal(ds->n, 408);
    assert_true(ds->labeled);
    assert_string_equal(ds->rows[0].text_a, "He said the foodservice pie business doesn 't fit "
                                            "the company 's long-term growth strategy .");
    assert_string_equal(ds->rows[0].text_b,
                        "\" The foodservice pie business does not fit our long-term growth "
                        "strategy .");
    assert_string_equal(ds->rows[407].text_b, "In Soviet times the Beatles ' music \" was "
                                              "considered propaganda of an alien ideology .");
    assert_int_equal(count_label(ds, 1), 279);
    eb_dataset_free(ds);
}

static void test_rte_qnli(void **state) {
    (void)state;
    eb_dataset *ds = load_real("glue/RTE/train.tsv", "rte");
    if (!ds) skip();
    assert_int_equal(ds->n, 2490);
    assert_string_equal(ds->rows[0].text_a, "No Weapons of Mass Destruction Found in Iraq Yet.");
    assert_string_equal(ds->rows[0].text_b, "Weapons of Mass Destruction Found in Iraq.");
    assert_int_equal(ds->rows[0].label, 1); /* not_entailment */
    assert_string_equal(ds->rows[2489].text_b, "U.S. to use Turkish military bases.");
    assert_int_equal(count_label(ds, 0), 1249);
    eb_dataset_free(ds);

    ds = load_real("glue/RTE/dev.tsv", "RTE");
    assert_int_equal(ds->n, 277);
    /* line 139 (index 137): a field starting with a bare quote */
    const eb_example *e = &ds->rows[137];
    assert_int_equal(e->line, 139);
    assert_memory_equal(e->text_a, "\"It's Only a Play\" is Terrence McNally's \"Give", 46);
    assert_string_equal(e->text_b, "Broadway is in New York.");
    assert_int_equal(e->label, 0);
    assert_string_equal(ds->rows[276].text_b, "Greenpeace director said that peace is terrorism.");
    assert_int_equal(count_label(ds, 0), 146);
    assert_int_equal(count_label(ds, 1), 131);
    eb_dataset_free(ds);

    ds = load_real("glue/QNLI/dev_even.tsv", "qnli");
    assert_int_equal(ds->n, 2732);
    assert_string_equal(ds->rows[0].text_a,
                        "What came into force after the new constitution was herald?");
    assert_string_equal(ds->rows[0].text_b, "As of that day, the new constitution heralding the "
                                            "Second Republic came into force.");
    assert_int_equal(ds->rows[0].label, 0);
    assert_string_equal(ds->rows[2731].text_a, "Who discovered this and where did they come from?");
    assert_int_equal(ds->rows[2731].label, 1);
    assert_int_equal(count_label(ds, 0), 1380);
    eb_dataset_free(ds);
}

static void test_stsb(void **state) {
    (void)state;
    eb_dataset *ds = load_real("glue/STS-B/train.tsv", "sts-b");
    if (!ds) skip();
    assert_int_equal(ds->n, 5749);
    assert_string_equal(ds->rows[0].text_a, "A plane is taking off.");
    assert_string_equal(ds->rows[0].text_b, "An air plane is taking off.");
    assert_float_equal(ds->rows[0].score, 5.0f, 0);
    assert_int_equal(ds->rows[0].label, -1);
    double sum = 0;
    for (int i = 0; i < ds->n; i++)
        sum += ds->rows[i].score;
    assert_float_equal(sum, 15528.0434, 1e-2); /* awk over column 10 */
    eb_dataset_free(ds);

    ds = load_real("glue/STS-B/dev.tsv", "STSB");
    assert_int_equal(ds->n, 1500);
    assert_true(ds->labeled);
    assert_string_equal(ds->rows[1].text_a, "A young child is riding a horse.");
    assert_float_equal(ds->rows[1].score, 4.75f, 0);
    assert_string_equal(ds->rows[1499].text_b,
                        "New York police officer critically wounded in hatchet attack");
    assert_float_equal(ds->rows[1499].score, 0.0f, 0);
    sum = 0;
    for (int i = 0; i < ds->n; i++)
        sum += ds->rows[i].score;
    assert_float_equal(sum, 3545.8613, 1e-2);
    eb_dataset_free(ds);
}

/* ---------------------------------------------------------------- */
/* synthetic files: QQP, MNLI, test layouts, CRLF                     */
/* ---------------------------------------------------------------- */

static void test_qqp_file(void **state) {
    (void)state;
    const char *text = "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
                       "133273\t213221\t213222\tHow is the life of a math student?\tWhich "
                       "level of prepration is enough?\t0\n"
                       "402555\t536040\t536041\tHow do I control my horny emotions?\tHow do "
                       "you control your horniness?\t1\n"
                       "7\t15\t16\t\"Quoted\tstill a tab split\t1\n";
    char path[64];
    write_temp(path, sizeof path, text, strlen(text));
    eb_dataset *ds = NULL;
    eb_error err = {0};
    assert_int_equal(eb_dataset_load(path, "QQP", NULL, &ds, &err), EB_OK);
    assert_int_equal(ds->n, 3);
    assert_string_equal(ds->rows[0].text_a, "How is the life of a math student?");
    assert_string_equal(ds->rows[0].text_b, "Which level of prepration is enough?");
    assert_int_equal(ds->rows[0].label, 0);
    assert_int_equal(ds->rows[1].label, 1);
    assert_string_equal(ds->rows[2].text_a, "\"Quoted");
    assert_string_equal(ds->rows[2].text_b, "still a tab split");
    eb_dataset_free(ds);
    unlink(path);

    /* test layout: id question1 question2, no label */
    const char *test = "id\tquestion1\tquestion2\r\n0\tWhy?\tWhy not?\r\n1\tA\tB\r\n";
    assert_int_equal(load_str(test, "qqp", &ds, &err), EB_OK);
    assert_int_equal(ds->n, 2);
    assert_false(ds->labeled);
    assert_string_equal(ds->rows[0].text_b, "Why not?"); /* CR removed */
    assert_int_equal(ds->rows[1].label, -1);
    eb_dataset_free(ds);
}

static void test_mnli_file(void **state) {
    (void)state;
    /* dev layout: 16 columns, labels by header name */
    const char *hdr = "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\t"
                      "sentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\t"
                      "sentence2\tlabel1\tlabel2\tlabel3\tlabel4\tlabel5\tgold_label\n";
    const char *rows = "0\t63735\t63735n\tslate\t( ( a ) )\t( b )\t(ROOT a)\t(ROOT b)\tThe new "
                       "rights are nice enough\tEveryone really likes the newest benefits "
                       "\tneutral\tentailment\tneutral\tneutral\tneutral\tneutral\n"
                       "1\t91383\t91383c\tgovernment\tx\ty\tz\tw\tThis site includes a list.\t"
                       "The Government Executive articles housed on the website are not able "
                       "to be searched .\tcontradiction\tcontradiction\tcontradiction\t"
                       "contradiction\tcontradiction\tcontradiction\n"
                       "2\t1\t1e\tfiction\tx\ty\tz\tw\tA\tB\tentailment\tentailment\t\t\t\t"
                       "entailment\n";
    char text[2048];
    snprintf(text, sizeof text, "%s%s", hdr, rows);
    char path[64];
    write_temp(path, sizeof path, text, strlen(text));
    eb_dataset *ds = NULL;
    eb_error err = {0};
    assert_int_equal(eb_dataset_load(path, "mnli-mm", NULL, &ds, &err), EB_OK);
    assert_int_equal(ds->n, 3);
    assert_string_equal(ds->rows[0].text_a, "The new rights are nice enough");
    assert_string_equal(ds->rows[0].text_b, "Everyone really likes the newest benefits ");
    /* order entailment, neutral, contradiction */
    assert_int_equal(ds->rows[0].label, 1);
    assert_int_equal(ds->rows[1].label, 2);
    assert_int_equal(ds->rows[2].label, 0);
    eb_dataset_free(ds);
    unlink(path);

    /* train layout (12 columns, label1 + gold_label) and a bad label */
    const char *train = "index\tpromptID\tpairID\tgenre\ts1b\ts2b\ts1p\ts2p\tsentence1\tsentence2"
                        "\tlabel1\tgold_label\n"
                        "0\t1\t1n\tgov\ta\tb\tc\td\tP\tH\tneutral\tneutral\n"
                        "1\t2\t2n\tgov\ta\tb\tc\td\tP\tH\tneutral\tNeutral\n";
    assert_int_equal(load_str(train, "mnli", &ds, &err), EB_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "mem.tsv:3"));
    assert_non_null(strstr(err.msg, "Neutral"));

    /* test layout: no gold_label column */
    const char *test = "index\tpromptID\tpairID\tgenre\ts1b\ts2b\ts1p\ts2p\tsentence1\tsentence2\n"
                       "0\t1\t1n\tgov\ta\tb\tc\td\tPremise\tHypothesis\n";
    assert_int_equal(load_str(test, "mnli", &ds, &err), EB_OK);
    assert_false(ds->labeled);
    assert_int_equal(ds->n, 1);
    assert_string_equal(ds->rows[0].text_b, "Hypothesis");
    assert_int_equal(ds->rows[0].label, -1);
    eb_dataset_free(ds);
}

static void test_test_layouts(void **state) {
    (void)state;
    eb_dataset *ds = NULL;
    eb_error err = {0};
    /* SST-2 / CoLA test: index sentence */
    assert_int_equal(load_str("index\tsentence\n0\tuneasy mishmash of styles\n", "sst2", &ds, &err),
                     EB_OK);
    assert_false(ds->labeled);
    assert_string_equal(ds->rows[0].text_a, "uneasy mishmash of styles");
    eb_dataset_free(ds);
    assert_int_equal(
        load_str("index\tsentence\n0\tBill whistled past the house.\n1\tX\n", "cola", &ds, &err),
        EB_OK);
    assert_int_equal(ds->n, 2);
    assert_false(ds->labeled);
    assert_string_equal(ds->rows[0].text_a, "Bill whistled past the house.");
    eb_dataset_free(ds);
    /* MRPC test: index #1 ID #2 ID #1 String #2 String, with BOM and CRLF */
    assert_int_equal(load_str("\xEF\xBB\xBFindex\t#1 ID\t#2 ID\t#1 String\t#2 String\r\n"
                              "0\t1089874\t1089925\tPCCW 's chief\tCurrent Chief\r\n",
                              "mrpc", &ds, &err),
                     EB_OK);
    assert_false(ds->labeled);
    assert_string_equal(ds->rows[0].text_a, "PCCW 's chief");
    assert_string_equal(ds->rows[0].text_b, "Current Chief");
    eb_dataset_free(ds);
    /* STS-B test: nine columns, no score */
    assert_int_equal(load_str("index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\t"
                              "sentence1\tsentence2\n0\tg\tf\t2012\t1\tnone\tnone\tA girl\tA "
                              "boy\n",
                              "stsb", &ds, &err),
                     EB_OK);
    assert_false(ds->labeled);
    assert_true(isnan(ds->rows[0].score));
    eb_dataset_free(ds);
    /* WNLI: labels 0/1, 1 = entailment, order not_entailment, entailment */
    assert_int_equal(
        load_str("index\tsentence1\tsentence2\tlabel\n0\tA\tB\t1\n1\tC\tD\t0\n", "wnli", &ds, &err),
        EB_OK);
    assert_int_equal(ds->rows[0].label, 1);
    assert_int_equal(ds->rows[1].label, 0);
    assert_string_equal(eb_task_get(EB_TASK_WNLI)->label_names[1], "entailment");
    eb_dataset_free(ds);
    /* header only: no rows */
    assert_int_equal(load_str("sentence\tlabel\n", "sst2", &ds, &err), EB_OK);
    assert_int_equal(ds->n, 0);
    eb_dataset_free(ds);
}

/* ---------------------------------------------------------------- */
/* hostile input                                                       */
/* ---------------------------------------------------------------- */

static void expect_format(const char *text, size_t len, const char *task, const char *where) {
    eb_dataset *ds = (eb_dataset *)1;
    eb_error err = {0};
    eb_status s = eb_dataset_load_buffer(text, len, "bad.tsv", task, NULL, &ds, &err);
    if (s != EB_ERR_FORMAT || !strstr(err.msg, where))
        fprintf(stderr, "task %s: status %d, message '%s', want '%s'\n", task, s, err.msg, where);
    assert_int_equal(s, EB_ERR_FORMAT);
    assert_null(ds);
    assert_non_null(strstr(err.msg, where));
}
#define BAD(text, task, where) expect_format(text, sizeof text - 1, task, where)

static void test_hostile(void **state) {
    (void)state;
    BAD("sentence\tlabel\ngood\t1\ntoo\tmany\t1\n", "sst2", "bad.tsv:3: expected 2");
    BAD("sentence\tlabel\ngood\t1\nno label\n", "sst2", "bad.tsv:3:");
    BAD("sentence\tlabel\ngood\t1\n\ngood\t0\n", "sst2", "bad.tsv:3:"); /* blank line */
    BAD("sentence\tlabel\ngood\t2\n", "sst2", "bad.tsv:2: bad SST-2 label '2'");
    BAD("sentence\tlabel\ngood\t\n", "sst2", "bad.tsv:2: bad SST-2 label ''");
    BAD("sentence\tlabel\ngood\t1 \n", "sst2", "bad.tsv:2:");
    BAD("sentence\tlabel\nbad \xC3\x28 utf8\t1\n", "sst2", "bad.tsv:2: invalid UTF-8");
    BAD("sentence\tlabel\noverlong \xC0\xAF\t1\n", "sst2", "bad.tsv:2: invalid UTF-8");
    BAD("sentence\tlabel\nok\t1\nnul \0 byte\t1\n", "sst2", "bad.tsv:3: NUL byte");
    BAD("", "sst2", "bad.tsv: empty file");
    BAD("text\tlabel\nx\t1\n", "sst2", "bad.tsv:1: no column 'sentence'");
    BAD("index\tsentence1\tlabel\n0\ta\tentailment\n", "rte", "no column 'sentence2'");
    BAD("index\tsentence1\tsentence2\tlabel\n0\ta\tb\tENTAILMENT\n", "rte",
        "bad.tsv:2: bad RTE label 'ENTAILMENT' (want one of: entailment, not_entailment)");
    BAD("index\tquestion\tsentence\tlabel\n0\ta\tb\tneutral\n", "qnli", "bad.tsv:2: bad QNLI");
    BAD("gj04\t1\t\tok\ngj04\t1\tmissing marker\n", "cola", "bad.tsv:2: expected 4");
    BAD("gj04\tyes\t\tok\n", "cola", "bad.tsv:1: bad CoLA label 'yes'");
    BAD("index\tsentence1\tsentence2\tscore\n0\ta\tb\tfive\n", "stsb", "bad.tsv:2: bad similarity");
    BAD("index\tsentence1\tsentence2\tscore\n0\ta\tb\t5.5\n", "stsb", "bad.tsv:2:");
    BAD("index\tsentence1\tsentence2\tscore\n0\ta\tb\tnan\n", "stsb", "bad.tsv:2:");
    BAD("index\tsentence1\tsentence2\tscore\n0\ta\tb\t\n", "stsb", "bad.tsv:2:");
    BAD("id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n1\t2\t3\tq\t0\n", "qqp",
        "bad.tsv:2: expected 6 tab-separated fields, found 5");

    /* a file that does not exist, an unknown task */
    eb_dataset *ds = NULL;
    eb_error err = {0};
    assert_int_equal(eb_dataset_load("/nonexistent/x.tsv", "sst2", NULL, &ds, &err), EB_ERR_IO);
    assert_non_null(strstr(err.msg, "/nonexistent/x.tsv"));
    assert_int_equal(eb_dataset_load("/nonexistent/x.tsv", "yelp", NULL, &ds, &err), EB_ERR_ARG);
    assert_non_null(strstr(err.msg, "yelp"));
    assert_non_null(strstr(err.msg, "sst2"));
    assert_non_null(strstr(err.msg, "mnli"));
    assert_null(ds);

    /* a thousand random byte strings: never a crash, only OK or FORMAT */
    uint64_t s = 99;
    char buf[256];
    for (int t = 0; t < 1000; t++) {
        size_t len = eb_test_rng(&s) % sizeof buf;
        const char alphabet[] = "ab\t\n\r01\"\xC3\xA9\xFF";
        for (size_t i = 0; i < len; i++)
            buf[i] = alphabet[eb_test_rng(&s) % (sizeof alphabet)];
        const char *tasks[] = {"sst2", "cola", "rte", "stsb"};
        eb_status st = eb_dataset_load_buffer(buf, len, "fuzz", tasks[t % 4], NULL, &ds, &err);
        assert_true(st == EB_OK || st == EB_ERR_FORMAT);
        if (st == EB_OK) {
            for (int i = 0; i < ds->n; i++)
                assert_non_null(ds->rows[i].text_a);
            eb_dataset_free(ds);
        }
    }
}

/* ---------------------------------------------------------------- */
/* tasks and label maps                                               */
/* ---------------------------------------------------------------- */

static void test_tasks(void **state) {
    (void)state;
    const char *names[][2] = {{"SST-2", "sst2"}, {"sst2", "sst2"},    {"Sts-B", "stsb"},
                              {"STSB", "stsb"},  {"MNLI-MM", "mnli"}, {"qnli", "qnli"},
                              {"CoLA", "cola"},  {"MRPC", "mrpc"},    {"QQP", "qqp"},
                              {"rte", "rte"},    {"wnli", "wnli"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const eb_task_info *t = NULL;
        assert_int_equal(eb_task_lookup(names[i][0], &t, NULL), EB_OK);
        assert_string_equal(t->name, names[i][1]);
        assert_ptr_equal(eb_task_get(t->task), t);
    }
    const eb_task_info *t = eb_task_get(EB_TASK_MNLI);
    assert_int_equal(t->num_labels, 3);
    assert_string_equal(t->label_names[0], "entailment");
    assert_string_equal(t->label_names[1], "neutral");
    assert_string_equal(t->label_names[2], "contradiction");
    assert_string_equal(eb_task_get(EB_TASK_RTE)->label_names[1], "not_entailment");
    assert_string_equal(eb_task_get(EB_TASK_QNLI)->label_names[0], "entailment");
    assert_int_equal(eb_task_get(EB_TASK_STSB)->num_labels, 1);
    assert_true(eb_task_get(EB_TASK_MRPC)->has_f1 && eb_task_get(EB_TASK_QQP)->has_f1);
    assert_true(eb_task_get(EB_TASK_COLA)->has_matthews);
    assert_false(eb_task_get(EB_TASK_SST2)->is_pair);
    assert_null(eb_task_get(EB_TASK_COUNT));

    int map[EB_MAX_LABELS];
    eb_error err = {0};
    /* transformers' MnliProcessor order: contradiction, entailment, neutral */
    char hf[3][EB_LABEL_NAME_MAX] = {"contradiction", "entailment", "neutral"};
    assert_int_equal(eb_task_label_map(t, hf, 3, map, &err), EB_OK);
    assert_int_equal(map[0], 1);
    assert_int_equal(map[1], 2);
    assert_int_equal(map[2], 0);
    char generic[3][EB_LABEL_NAME_MAX] = {"LABEL_0", "LABEL_1", "LABEL_2"};
    assert_int_equal(eb_task_label_map(t, generic, 3, map, &err), EB_OK);
    assert_true(map[0] == 0 && map[1] == 1 && map[2] == 2);
    char other[3][EB_LABEL_NAME_MAX] = {"yes", "no", "maybe"};
    assert_int_equal(eb_task_label_map(t, other, 3, map, &err), EB_ERR_ARG);
    assert_non_null(strstr(err.msg, "yes"));
    assert_int_equal(eb_task_label_map(t, generic, 2, map, &err), EB_ERR_ARG);
    /* SST-2 with named labels in reverse order, and with raw "1"/"0" */
    char sst[2][EB_LABEL_NAME_MAX] = {"POSITIVE", "NEGATIVE"};
    assert_int_equal(eb_task_label_map(eb_task_get(EB_TASK_SST2), sst, 2, map, &err), EB_OK);
    assert_true(map[0] == 1 && map[1] == 0);
    char raw[2][EB_LABEL_NAME_MAX] = {"1", "0"};
    assert_int_equal(eb_task_label_map(eb_task_get(EB_TASK_SST2), raw, 2, map, &err), EB_OK);
    assert_true(map[0] == 1 && map[1] == 0);
    char rte[2][EB_LABEL_NAME_MAX] = {"not_entailment", "entailment"};
    assert_int_equal(eb_task_label_map(eb_task_get(EB_TASK_RTE), rte, 2, map, &err), EB_OK);
    assert_true(map[0] == 1 && map[1] == 0);
    char reg[1][EB_LABEL_NAME_MAX] = {"LABEL_0"};
    assert_int_equal(eb_task_label_map(eb_task_get(EB_TASK_STSB), reg, 1, map, &err), EB_OK);
    assert_int_equal(map[0], 0);
    assert_int_equal(eb_task_label_map(eb_task_get(EB_TASK_STSB), generic, 2, map, &err),
                     EB_ERR_ARG);
}

/* ---------------------------------------------------------------- */
/* metrics                                                             */
/* ---------------------------------------------------------------- */

/* Matthews from one-hot covariances, written independently of the library:
 * MCC = sum_k cov(X_k, Y_k) / sqrt(sum_k cov(X_k,X_k) * sum_k cov(Y_k,Y_k)). */
static double mcc_onehot(const int *pred, const int *gold, int n, int K) {
    double cxy = 0, cxx = 0, cyy = 0;
    for (int k = 0; k < K; k++) {
        double mx = 0, my = 0;
        for (int i = 0; i < n; i++)
            mx += pred[i] == k, my += gold[i] == k;
        mx /= n, my /= n;
        for (int i = 0; i < n; i++) {
            double dx = (pred[i] == k) - mx, dy = (gold[i] == k) - my;
            cxy += dx * dy, cxx += dx * dx, cyy += dy * dy;
        }
    }
    return cxy / sqrt(cxx * cyy);
}

static void test_metrics_classification(void **state) {
    (void)state;
    int pred[] = {1, 1, 0, 0, 1};
    int gold[] = {1, 0, 1, 0, 1};
    /* TP=2 TN=1 FP=1 FN=1 */
    assert_float_equal(eb_metric_accuracy(pred, gold, 5), 3.0 / 5, 1e-12);
    assert_float_equal(eb_metric_f1(pred, gold, 5, 1), 4.0 / 6, 1e-12);
    assert_float_equal(eb_metric_f1(pred, gold, 5, 0), 2.0 / 4, 1e-12); /* TP=1 FP=1 FN=1 */
    /* (TP*TN - FP*FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN)) = 1/sqrt(3*3*2*2) */
    assert_float_equal(eb_metric_matthews(pred, gold, 5, 2), 1.0 / 6, 1e-12);
    /* sklearn's doc example: y_true [1,1,1,0], y_pred [1,0,1,1] -> -1/3 */
    int p2[] = {1, 0, 1, 1}, g2[] = {1, 1, 1, 0};
    assert_float_equal(eb_metric_matthews(p2, g2, 4, 2), -1.0 / 3, 1e-12);
    /* constant prediction: 0, no F1 positives: 0 */
    int zeros[] = {0, 0, 0, 0};
    assert_float_equal(eb_metric_matthews(zeros, g2, 4, 2), 0.0, 0);
    assert_float_equal(eb_metric_f1(zeros, zeros, 4, 1), 0.0, 0);
    /* unlabeled rows (-1) are left out */
    int p3[] = {1, 0, 1}, g3[] = {1, -1, 0};
    assert_float_equal(eb_metric_accuracy(p3, g3, 3), 0.5, 1e-12);
    int none[] = {-1, -1};
    assert_true(isnan(eb_metric_accuracy(p3, none, 2)));
    /* three classes against the one-hot formula */
    uint64_t s = 5;
    int pm[200], gm[200];
    for (int i = 0; i < 200; i++) {
        gm[i] = (int)(eb_test_rng(&s) % 3);
        pm[i] = eb_test_rng(&s) % 4 ? gm[i] : (int)(eb_test_rng(&s) % 3);
    }
    assert_float_equal(eb_metric_matthews(pm, gm, 200, 3), mcc_onehot(pm, gm, 200, 3), 1e-12);
    assert_float_equal(eb_metric_matthews(gm, gm, 200, 3), 1.0, 1e-12);
}

static void test_metrics_correlation(void **state) {
    (void)state;
    float x[] = {1, 2, 3, 4, 5}, y[] = {2, 4, 5, 4, 5};
    /* dx=-2..2, dy=-2,0,1,0,1: sxy=6, sxx=10, syy=6 -> 6/sqrt(60) */
    assert_float_equal(eb_metric_pearson(x, y, 5), 6 / sqrt(60), 1e-12);
    double r = 0;
    /* ranks x 1,2.5,2.5,4 and y 1,3,2,4: 4.5/sqrt(4.5*5) = 3/sqrt(10) */
    float a[] = {1, 2, 2, 3}, b[] = {1, 3, 2, 4};
    assert_int_equal(eb_metric_spearman(a, b, 4, NULL, &r, NULL), EB_OK);
    assert_float_equal(r, 3 / sqrt(10), 1e-12);
    /* monotone but not linear: Spearman 1, Pearson < 1 */
    float u[] = {1, 2, 3, 4, 5, 6}, v[] = {1, 8, 27, 64, 125, 216};
    assert_int_equal(eb_metric_spearman(u, v, 6, NULL, &r, NULL), EB_OK);
    assert_float_equal(r, 1.0, 1e-12);
    assert_true(eb_metric_pearson(u, v, 6) < 0.99);
    /* reversed with ties on both sides */
    float t1[] = {3, 1, 1, 2, 2, 2}, t2[] = {0, 5, 5, 4, 4, 4};
    assert_int_equal(eb_metric_spearman(t1, t2, 6, NULL, &r, NULL), EB_OK);
    assert_float_equal(r, -1.0, 1e-12);
    /* constant: NAN */
    float c[] = {2, 2, 2};
    assert_true(isnan(eb_metric_pearson(c, x, 3)));
    /* random data against a direct two-pass formula on large offsets */
    uint64_t s = 11;
    enum { N = 1000 };
    static float px[N], py[N];
    double mx = 0, my = 0;
    for (int i = 0; i < N; i++) {
        px[i] = 1000 + eb_test_uniform(&s);
        py[i] = px[i] - 1000 + 0.5f * eb_test_uniform(&s);
        mx += px[i], my += py[i];
    }
    mx /= N, my /= N;
    double sxy = 0, sxx = 0, syy = 0;
    for (int i = 0; i < N; i++)
        sxy += (px[i] - mx) * (py[i] - my), sxx += (px[i] - mx) * (px[i] - mx),
            syy += (py[i] - my) * (py[i] - my);
    assert_float_equal(eb_metric_pearson(px, py, N), sxy / sqrt(sxx * syy), 1e-9);
}

static void test_glue_score_and_histogram(void **state) {
    (void)state;
    eb_dataset *ds = NULL;
    eb_error err = {0};
    const char *mrpc = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\ta\tb\n0\t3\t4\tc\td\n"
                       "1\t5\t6\te\tf\n1\t7\t8\tg\th\n0\t9\t10\ti\tj\n";
    assert_int_equal(load_str(mrpc, "mrpc", &ds, &err), EB_OK);
    int pred[] = {1, 1, 0, 1, 0}; /* gold 1 0 1 1 0: TP=2 FP=1 FN=1 TN=1 */
    eb_glue_scores sc;
    assert_int_equal(eb_glue_score(ds, pred, NULL, &sc, &err), EB_OK);
    assert_int_equal(sc.n, 5);
    assert_float_equal(sc.accuracy, 0.6, 1e-12);
    assert_float_equal(sc.f1, 4.0 / 6, 1e-12);
    assert_true(isnan(sc.matthews) && isnan(sc.pearson));
    eb_dataset_free(ds);

    const char *sts = "index\tsentence1\tsentence2\tscore\n0\ta\tb\t1\n1\tc\td\t2\n2\te\tf\t2\n"
                      "3\tg\th\t3.000\n";
    assert_int_equal(load_str(sts, "stsb", &ds, &err), EB_OK);
    float ps[] = {1, 3, 2, 4};
    assert_int_equal(eb_glue_score(ds, NULL, ps, &sc, &err), EB_OK);
    assert_float_equal(sc.spearman, 3 / sqrt(10), 1e-12); /* same ranks as above, swapped */
    assert_float_equal(sc.pearson, eb_metric_pearson(ps, (float[]){1, 2, 2, 3}, 4), 1e-12);
    assert_true(isnan(sc.accuracy));
    assert_int_equal(eb_glue_score(ds, pred, NULL, &sc, &err), EB_ERR_ARG);
    eb_dataset_free(ds);

    assert_int_equal(load_str("index\tsentence\n0\tx\n", "sst2", &ds, &err), EB_OK);
    assert_int_equal(eb_glue_score(ds, pred, NULL, &sc, &err), EB_ERR_ARG);
    eb_dataset_free(ds);

    int exits[] = {1, 3, 3, 12, 2, 3};
    long hist[12];
    double mean;
    assert_int_equal(eb_exit_histogram(exits, 6, 12, hist, &mean, &err), EB_OK);
    assert_int_equal(hist[0], 1);
    assert_int_equal(hist[1], 1);
    assert_int_equal(hist[2], 3);
    assert_int_equal(hist[11], 1);
    assert_int_equal(hist[5], 0);
    assert_float_equal(mean, 24.0 / 6, 1e-12);
    int badexit[] = {1, 13};
    assert_int_equal(eb_exit_histogram(badexit, 2, 12, hist, &mean, &err), EB_ERR_ARG);
    assert_non_null(strstr(err.msg, "13"));
    assert_int_equal(eb_exit_histogram(exits, 0, 12, hist, &mean, &err), EB_OK);
    assert_true(isnan(mean));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sst2),
        cmocka_unit_test(test_cola),
        cmocka_unit_test(test_mrpc),
        cmocka_unit_test(test_rte_qnli),
        cmocka_unit_test(test_stsb),
        cmocka_unit_test(test_qqp_file),
        cmocka_unit_test(test_mnli_file),
        cmocka_unit_test(test_test_layouts),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_tasks),
        cmocka_unit_test(test_metrics_classification),
        cmocka_unit_test(test_metrics_correlation),
        cmocka_unit_test(test_glue_score_and_histogram),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
