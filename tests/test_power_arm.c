/* test_power_arm.c - the cpufreq power backend against fake sysfs trees shaped
 * like ARM boards' (run natively and, by make cross-test, under qemu-aarch64):
 * a Raspberry Pi 4 (cpufreq-dt: a table of operating points, "ondemand"), a
 * big.LITTLE part whose big cluster has its own table (cpu4), a Jetson-like
 * driver with no frequency table (continuous range), and a governor that
 * cannot be switched (read-only file: refused cleanly). */
#include "testutil.h"

#include <unistd.h>

#include "edgebert/runtime.h"

static void put(const char *dir, const char *name, const char *text) {
    char p[700];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static long get_khz(const char *dir) {
    char p[700], buf[64] = "";
    snprintf(p, sizeof p, "%s/scaling_setspeed", dir);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return strtol(buf, NULL, 10);
}

static void make_cpu(const char *root, int cpu, char *dir, size_t cap, const char *gov, long min,
                     long max, const char *table) {
    char cmd[800];
    snprintf(dir, cap, "%s/devices/system/cpu/cpu%d/cpufreq", root, cpu);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    assert_int_equal(system(cmd), 0);
    char v[32];
    put(dir, "scaling_governor", gov);
    snprintf(v, sizeof v, "%ld\n", min);
    put(dir, "cpuinfo_min_freq", v);
    snprintf(v, sizeof v, "%ld\n", max);
    put(dir, "cpuinfo_max_freq", v);
    if (table) put(dir, "scaling_available_frequencies", table);
    put(dir, "scaling_setspeed", "<unsupported>\n");
}

/* set freq_mhz and read back what was written */
static long set_read(eb_power_backend *b, const char *dir, double mhz) {
    eb_error err = {0};
    assert_int_equal(b->set(b->ud, 0.8, mhz, &err), EB_OK);
    return get_khz(dir);
}

static void test_raspberry_pi_and_big_little(void **state) {
    (void)state;
    char root[] = "/tmp/eb_armfs_XXXXXX";
    assert_non_null(mkdtemp(root));
    char little[600], big[600];
    /* Pi 4-like: cpuinfo_* only (no scaling_min/max), 100 MHz steps */
    make_cpu(root, 0, little, sizeof little, "ondemand\n", 600000, 1500000,
             "600000 700000 800000 900000 1000000 1100000 1200000 1300000 1400000 1500000 \n");
    /* big cluster (cpu4) of a big.LITTLE SoC: its own, sparser table, scaling_max capped */
    make_cpu(root, 4, big, sizeof big, "schedutil\n", 408000, 2208000,
             "408000 816000 1200000 1608000 2016000 2208000\n");
    put(big, "scaling_max_freq", "2016000\n");
    put(big, "scaling_min_freq", "816000\n");
    eb_power_backend bl, bb;
    eb_error err = {0};
    assert_int_equal(eb_power_cpufreq_open(root, 0, NULL, &bl, &err), EB_OK);
    assert_int_equal(eb_power_cpufreq_open(root, 4, NULL, &bb, &err), EB_OK);
    assert_string_equal(bl.name, "cpufreq");
    /* the lowest table entry at or above the request, by hand from the tables */
    assert_int_equal(set_read(&bl, little, 650), 700000);
    assert_int_equal(set_read(&bl, little, 1000), 1000000);
    assert_int_equal(set_read(&bl, little, 1000.4), 1100000);
    assert_int_equal(set_read(&bl, little, 100), 600000);
    assert_int_equal(set_read(&bl, little, 5000), 1500000);
    assert_int_equal(set_read(&bb, big, 500), 816000); /* 408 MHz is below scaling_min */
    assert_int_equal(set_read(&bb, big, 1300), 1608000);
    assert_int_equal(set_read(&bb, big, 2100), 2016000); /* 2208 MHz is above scaling_max */
    /* the other cluster was not touched by the big one's settings */
    assert_int_equal(get_khz(little), 1500000);
    bl.close(bl.ud);
    bb.close(bb.ud);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

static void test_no_table_and_locked_governor(void **state) {
    (void)state;
    char root[] = "/tmp/eb_armfs_XXXXXX";
    assert_non_null(mkdtemp(root));
    char dir[600];
    /* a driver without a table: the request itself, clamped to the range */
    make_cpu(root, 2, dir, sizeof dir, "userspace\n", 115200, 1479000, NULL);
    eb_power_backend b;
    eb_error err = {0};
    assert_int_equal(eb_power_cpufreq_open(root, 2, NULL, &b, &err), EB_OK);
    assert_int_equal(set_read(&b, dir, 918), 918000);
    assert_int_equal(set_read(&b, dir, 50), 115200);
    assert_int_equal(set_read(&b, dir, 1600), 1479000);
    b.close(b.ud);
    /* a governor file that cannot be written (not root): refused with a reason */
    make_cpu(root, 3, dir, sizeof dir, "schedutil\n", 600000, 1800000, "600000 1800000\n");
    char p[700];
    snprintf(p, sizeof p, "%s/scaling_governor", dir);
    assert_int_equal(chmod(p, 0444), 0);
    if (geteuid() == 0) { /* root writes anyway: make it a directory-less path instead */
        assert_int_equal(chmod(p, 0644), 0);
        put(dir, "scaling_governor", "schedutil\n");
        assert_int_equal(unlink(p), 0);
        assert_int_equal(mkdir(p, 0755), 0); /* reading it fails: refused as well */
    }
    assert_int_not_equal(eb_power_cpufreq_open(root, 3, NULL, &b, &err), EB_OK);
    assert_non_null(strstr(err.msg, "scaling_governor"));
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raspberry_pi_and_big_little),
        cmocka_unit_test(test_no_table_and_locked_governor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
