/* test_cli_opts.c - the command line's option table (src/cli/opts.c): the
 * spellings of a value (--opt value, --opt=value, -oVALUE), `--` ending the
 * options, range checks at both ends (inclusive and exclusive), the word
 * `model`, flags refusing a value, choices, hidden rows left out of the
 * usage.  The CLI is not part of the library: its parser is compiled in. */
#include "testutil.h"

#include "cli/opts.c"

typedef struct vals {
    int n, flag, choice, hidden;
    long big;
    double frac, pos;
    float thr;
    const char *str;
    const char *pos_args[3];
    int npos;
} vals;

static int parse(vals *v, int argc, const char **argv) {
    const eb_opt rows[] = {
        {"-n|--num", EB_OPT_INT, &v->n, 1, 10, 0, "N", "an integer in 1..10", NULL},
        {"--big", EB_OPT_LONG, &v->big, 0, EB_OPT_INF, 0, "N", "a long >= 0", NULL},
        {"--frac", EB_OPT_DOUBLE, &v->frac, 0, 1, EB_OPT_GT | EB_OPT_LT, "X", "in (0, 1)", NULL},
        {"--pos", EB_OPT_DOUBLE, &v->pos, 0, EB_OPT_INF, EB_OPT_GT, "X", "> 0", NULL},
        {"--thr", EB_OPT_FLOAT, &v->thr, 0, EB_OPT_INF, EB_OPT_MODEL, "T|model", ">= 0", NULL},
        {"-s|--str", EB_OPT_STR, &v->str, 0, 0, 0, "S", "a string", NULL},
        {"--flag", EB_OPT_FLAG, &v->flag, 0, 0, 0, NULL, "a flag", NULL},
        {"--pick", EB_OPT_CHOICE, &v->choice, 0, 0, 0, "one|two|three", "a choice", NULL},
        {"--old-name", EB_OPT_FLAG, &v->hidden, 0, 0, EB_OPT_HIDDEN, NULL, "hidden", NULL},
    };
    eb_opt_spec s = {.cmd = "test",
                     .opts = rows,
                     .nopts = EB_OPT_COUNT(rows),
                     .pos = v->pos_args,
                     .max_pos = 3,
                     .npos = &v->npos};
    return eb_opt_parse(&s, argc, (char **)argv);
}

#define PARSE(v, ...)                                                                              \
    (memset(&(v), 0, sizeof(v)),                                                                   \
     parse(&(v), (int)(sizeof((const char *[]){"test", __VA_ARGS__}) / sizeof(const char *)),     \
           (const char *[]){"test", __VA_ARGS__}))

static void test_value_spellings(void **state) {
    (void)state;
    vals v;
    assert_int_equal(PARSE(v, "--num", "5"), -1);
    assert_int_equal(v.n, 5);
    assert_int_equal(PARSE(v, "--num=6"), -1);
    assert_int_equal(v.n, 6);
    assert_int_equal(PARSE(v, "-n7"), -1);
    assert_int_equal(v.n, 7);
    assert_int_equal(PARSE(v, "-n", "8", "-sx=y", "--str=a=b"), -1);
    assert_int_equal(v.n, 8);
    assert_string_equal(v.str, "a=b"); /* the first '=' splits; the last one given wins */
    assert_int_equal(PARSE(v, "--str="), -1);
    assert_string_equal(v.str, "");
    assert_int_equal(PARSE(v, "--big=123456789012"), -1);
    assert_true(v.big == 123456789012L || sizeof(long) < 8);
}

static void test_double_dash(void **state) {
    (void)state;
    vals v;
    assert_int_equal(PARSE(v, "--flag", "--", "-5 stars", "--num=3"), -1);
    assert_int_equal(v.flag, 1);
    assert_int_equal(v.n, 0);
    assert_int_equal(v.npos, 2);
    assert_string_equal(v.pos_args[0], "-5 stars");
    assert_string_equal(v.pos_args[1], "--num=3");
    assert_int_equal(PARSE(v, "a", "--", "--"), -1); /* only the first -- is special */
    assert_int_equal(v.npos, 2);
    assert_string_equal(v.pos_args[1], "--");
    assert_int_equal(PARSE(v, "-", "x"), -1); /* a lone - is an argument */
    assert_int_equal(v.npos, 2);
    assert_int_equal(PARSE(v, "-5 stars"), 2); /* without --: an unknown option */
    assert_int_equal(PARSE(v, "a", "b", "c", "d"), 2);
}

static void test_ranges(void **state) {
    (void)state;
    vals v;
    assert_int_equal(PARSE(v, "--num", "1"), -1);
    assert_int_equal(PARSE(v, "--num", "10"), -1);
    assert_int_equal(PARSE(v, "--num", "0"), 2);
    assert_int_equal(PARSE(v, "--num", "11"), 2);
    assert_int_equal(PARSE(v, "--num", "-3"), 2);
    assert_int_equal(PARSE(v, "--num", "5x"), 2);
    assert_int_equal(PARSE(v, "--num", "99999999999"), 2);
    assert_int_equal(PARSE(v, "--big", "-1"), 2);
    assert_int_equal(PARSE(v, "--frac", "0.5"), -1);
    assert_true(v.frac == 0.5);
    assert_int_equal(PARSE(v, "--frac", "0"), 2);
    assert_int_equal(PARSE(v, "--frac", "1"), 2);
    assert_int_equal(PARSE(v, "--frac", "nan"), 2);
    assert_int_equal(PARSE(v, "--pos", "1e-9"), -1);
    assert_int_equal(PARSE(v, "--pos", "0"), 2);
    assert_int_equal(PARSE(v, "--pos", "inf"), 2);
    assert_int_equal(PARSE(v, "--thr", "0"), -1);
    assert_true(v.thr == 0.0f);
    assert_int_equal(PARSE(v, "--thr", "model"), -1);
    assert_true(v.thr == -1.0f);
    assert_int_equal(PARSE(v, "--thr", "-1"), 2);
    assert_int_equal(PARSE(v, "--thr", "1e39"), 2); /* finite as a double, not as a float */
    assert_int_equal(PARSE(v, "--pos", "model"), 2); /* only rows that say so take the word */
}

static void test_flags_choices_errors(void **state) {
    (void)state;
    vals v;
    assert_int_equal(PARSE(v, "--flag=1"), 2);
    assert_int_equal(PARSE(v, "--num"), 2); /* a value is missing */
    assert_int_equal(PARSE(v, "--nope"), 2);
    assert_int_equal(PARSE(v, "--flagx"), 2); /* names match whole */
    assert_int_equal(PARSE(v, "--pick=three"), -1);
    assert_int_equal(v.choice, 2);
    assert_int_equal(PARSE(v, "--pick", "four"), 2);
    assert_int_equal(PARSE(v, "--pick", "tw"), 2);
    assert_int_equal(PARSE(v, "--old-name"), -1);
    assert_int_equal(v.hidden, 1);
    assert_int_equal(PARSE(v, "-h"), 0);
    assert_int_equal(PARSE(v, "--num", "2", "--help"), 0);
}

static void test_usage(void **state) {
    (void)state;
    int dummy = 0;
    const eb_opt rows[] = {
        {"-m|--model", EB_OPT_STR, &dummy, 0, 0, 0, "MODEL", "the model", NULL},
        {"--json", EB_OPT_FLAG, &dummy, 0, 0, 0, NULL, "JSON\nsecond line", NULL},
        {"--model-task", EB_OPT_STR, &dummy, 0, 0, EB_OPT_HIDDEN, "NAME", "old", NULL},
        {"--a-rather-long-option-name", EB_OPT_INT, &dummy, 0, 1, 0, "N", "long", NULL},
    };
    eb_opt_spec s = {.cmd = "x", .synopsis = "[options]", .opts = rows, .nopts = 4};
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    assert_non_null(f);
    eb_opt_usage(&s, f);
    fclose(f);
    assert_non_null(strstr(buf, "usage: edgebert x [options]\n"));
    assert_non_null(strstr(buf, "  -m, --model MODEL    the model\n"));
    assert_non_null(strstr(buf, "  --json               JSON\n                       second line\n"));
    assert_non_null(strstr(buf, "  --a-rather-long-option-name N\n                       long\n"));
    assert_null(strstr(buf, "model-task"));
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_value_spellings),
        cmocka_unit_test(test_double_dash),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_flags_choices_errors),
        cmocka_unit_test(test_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
