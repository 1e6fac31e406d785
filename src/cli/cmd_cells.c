/* cmd_cells.c - `edgebert cells`: the ReRAM cell fault model per storage
 * kind (sense thresholds, per-boundary read-error probabilities, mean fault
 * rate, area density and read latency), from the compiled-in level tables or
 * a user table.
 *
 *   edgebert cells [--cells slc,mlc2,mlc3] [--table FILE] [--json]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/opts.h"
#include "edgebert/reram.h"

static cJSON *kind_json(const char *name, const eb_reram_model *m, double area, double lat) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "cells", name);
    cJSON_AddNumberToObject(o, "bits", m->table.bits);
    cJSON *lv = cJSON_AddArrayToObject(o, "levels");
    for (int j = 0; j < m->table.n_levels; j++) {
        cJSON *l = cJSON_CreateObject();
        cJSON_AddNumberToObject(l, "mean", m->table.level[j].mean);
        cJSON_AddNumberToObject(l, "sigma", m->table.level[j].sigma);
        cJSON_AddItemToArray(lv, l);
    }
    cJSON *bd = cJSON_AddArrayToObject(o, "boundaries");
    for (int j = 0; j + 1 < m->table.n_levels; j++) {
        cJSON *b = cJSON_CreateObject();
        cJSON_AddNumberToObject(b, "lower", j);
        cJSON_AddNumberToObject(b, "threshold", m->threshold[j]);
        cJSON_AddNumberToObject(b, "p_up", m->p_up[j]);
        cJSON_AddNumberToObject(b, "p_down", m->p_down[j + 1]);
        cJSON_AddItemToArray(bd, b);
    }
    cJSON_AddNumberToObject(o, "fault_rate", eb_reram_fault_rate(m));
    if (area == area)
        cJSON_AddNumberToObject(o, "area_mm2_per_mb", area);
    else
        cJSON_AddNullToObject(o, "area_mm2_per_mb");
    if (lat == lat)
        cJSON_AddNumberToObject(o, "read_latency_ns", lat);
    else
        cJSON_AddNullToObject(o, "read_latency_ns");
    return o;
}

static void kind_text(const char *name, const eb_reram_model *m, double area, double lat) {
    char buf[4096];
    eb_reram_describe(m, buf, sizeof buf);
    printf("== %s", name);
    if (area == area) printf(" (area density %.2f mm^2/MB, read latency %.2f ns)", area, lat);
    printf("\n%s\n", buf);
}

int eb_cmd_cells(int argc, char **argv) {
    const char *cells = "slc,mlc2,mlc3", *table = NULL;
    int json = 0;
    eb_opt rows[] = {
        {"--cells", EB_OPT_STR, &cells, 0, 0, 0, "LIST",
         "storage kinds to show (default slc,mlc2,mlc3)", NULL},
        {"--table", EB_OPT_STR, &table, 0, 0, 0, "FILE",
         "a user level table instead: one 'mean sigma' line per level,\n"
         "lowest first, 2/4/8/16 levels, '#' comments",
         NULL},
        {"--json", EB_OPT_FLAG, &json, 0, 0, 0, NULL, "one JSON object on stdout", NULL},
    };
    eb_opt_spec spec = {.cmd = "cells", .opts = rows, .nopts = EB_OPT_COUNT(rows)};
    int prc = eb_opt_parse(&spec, argc, argv);
    if (prc >= 0) return prc;
    cJSON *root = json ? cJSON_CreateObject() : NULL;
    cJSON *arr = json ? cJSON_AddArrayToObject(root, "results") : NULL;
    eb_error err;
    eb_reram_model m;
    int rc = 0;
    if (table) {
        eb_reram_table t;
        if (eb_reram_table_load(table, NULL, &t, &err) || eb_reram_model_init(&m, &t, &err)) {
            fprintf(stderr, "edgebert cells: %s\n", err.msg);
            rc = err.status == EB_ERR_ARG || err.status == EB_ERR_FORMAT ? 2 : 1;
            goto done;
        }
        if (json)
            cJSON_AddItemToArray(arr, kind_json(table, &m, NAN, NAN));
        else
            kind_text(table, &m, NAN, NAN);
    } else {
        char list[256];
        snprintf(list, sizeof list, "%s", cells);
        for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save)) {
            eb_cell_kind k;
            if (eb_cell_kind_parse(tok, &k, &err)) {
                fprintf(stderr, "edgebert cells: %s\n", err.msg);
                rc = 2;
                goto done;
            }
            if (eb_reram_model_init(&m, eb_reram_default_table(k), &err)) {
                fprintf(stderr, "edgebert cells: %s\n", err.msg);
                rc = 1;
                goto done;
            }
            double area = eb_reram_area_mm2_per_mb(k), lat = eb_reram_read_latency_ns(k);
            if (json)
                cJSON_AddItemToArray(arr, kind_json(eb_cell_kind_name(k), &m, area, lat));
            else
                kind_text(eb_cell_kind_name(k), &m, area, lat);
        }
    }
    if (json) {
        char *s = cJSON_PrintUnformatted(root);
        if (s) printf("%s\n", s);
        free(s);
    }
done:
    cJSON_Delete(root);
    return rc;
}
