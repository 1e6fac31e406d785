/* svg.h - a small SVG bar-chart writer for the sweep report (internal). */
#ifndef EB_HW_SVG_H
#define EB_HW_SVG_H

#include "edgebert.h"

/* One panel: ncat groups of nser bars; values[s * ncat + c] (NaN = none). */
typedef struct eb_svg_panel {
    const char *title;
    const char *ylabel;
    int ncat;
    const char *const *cats;
    int nser;
    const char *const *series;
    const double *values;
    int logy;                      /* logarithmic y axis (values must be > 0) */
    int stacked;                   /* stack the series instead of grouping them */
    double ymin_fixed, ymax_fixed; /* both 0: automatic */
} eb_svg_panel;

/* Write a document with the panels stacked vertically. */
eb_status eb_svg_write(const char *path, const char *title, const eb_svg_panel *panels, int npanels,
                       eb_error *err);
/* Same into a malloc'ed string (for tests). */
eb_status eb_svg_render(const char *title, const eb_svg_panel *panels, int npanels, char **out,
                        size_t *len, eb_error *err);

#endif
