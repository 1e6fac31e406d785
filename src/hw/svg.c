/* svg.c - grouped / stacked bar charts as standalone SVG. */
#include "hw/svg.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

/* Text with XML escaping. */
static void sb_text(eb_strbuf *b, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '<': eb_strbuf_printf(b, "&lt;"); break;
        case '>': eb_strbuf_printf(b, "&gt;"); break;
        case '&': eb_strbuf_printf(b, "&amp;"); break;
        case '"': eb_strbuf_printf(b, "&quot;"); break;
        default: eb_strbuf_printf(b, "%c", *s);
        }
    }
}

static const char *COLORS[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
                               "#edc948", "#b07aa1", "#9c755f", "#bab0ac", "#ff9da7"};

static double nice_step(double range, int target) {
    double raw = range / target;
    double mag = pow(10, floor(log10(raw)));
    double r = raw / mag;
    double s = r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10;
    return s * mag;
}

static void fmt_num(char *buf, size_t cap, double v) {
    double a = fabs(v);
    if (a == 0)
        snprintf(buf, cap, "0");
    else if (a >= 1e5 || a < 1e-3)
        snprintf(buf, cap, "%.0e", v);
    else if (a >= 100)
        snprintf(buf, cap, "%.0f", v);
    else if (a >= 1)
        snprintf(buf, cap, "%.3g", v);
    else
        snprintf(buf, cap, "%.3g", v);
}

enum { W = 760, PH = 300, TOP = 40, ML = 80, MR = 170, MT = 34, MB = 52 };

static void panel(eb_strbuf *b, const eb_svg_panel *p, double y0) {
    double px = ML, pw = W - ML - MR, py = y0 + MT, ph = PH - MT - MB;
    /* value range */
    double lo = INFINITY, hi = -INFINITY;
    for (int c = 0; c < p->ncat; c++) {
        double stack = 0;
        for (int s = 0; s < p->nser; s++) {
            double v = p->values[s * p->ncat + c];
            if (!isfinite(v)) continue;
            if (p->stacked) {
                stack += v;
                v = stack;
            }
            if (p->logy && v <= 0) continue;
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
    }
    if (!isfinite(lo)) lo = 0, hi = 1;
    double ymin, ymax;
    if (p->ymin_fixed != 0 || p->ymax_fixed != 0) {
        ymin = p->ymin_fixed;
        ymax = p->ymax_fixed;
    } else if (p->logy) {
        ymin = pow(10, floor(log10(lo)));
        ymax = pow(10, ceil(log10(hi)));
        if (ymax <= ymin) ymax = ymin * 10;
    } else {
        ymin = lo < 0 ? lo : 0;
        double st = nice_step(hi - ymin > 0 ? hi - ymin : 1, 5);
        ymax = ceil(hi / st) * st;
        if (ymax <= ymin) ymax = ymin + 1;
    }
#define YPOS(v)                                                                                    \
    (p->logy ? py + ph - (log10(v) - log10(ymin)) / (log10(ymax) - log10(ymin)) * ph               \
             : py + ph - ((v)-ymin) / (ymax - ymin) * ph)
    eb_strbuf_printf(b, "<text x=\"%g\" y=\"%g\" font-size=\"15\" font-weight=\"bold\">", px, y0 + 20);
    sb_text(b, p->title);
    eb_strbuf_printf(b, "</text>\n");
    /* grid and ticks */
    char num[32];
    if (p->logy) {
        for (double t = ymin; t <= ymax * 1.0001; t *= 10) {
            double y = YPOS(t);
            fmt_num(num, sizeof num, t);
            eb_strbuf_printf(b,
                      "<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                      "<text x=\"%g\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%s</text>\n",
                      px, y, px + pw, y, px - 6, y + 4, num);
        }
    } else {
        double st = nice_step(ymax - ymin, 5);
        for (double t = ceil(ymin / st) * st; t <= ymax + st * 1e-6; t += st) {
            double y = YPOS(t);
            fmt_num(num, sizeof num, fabs(t) < st * 1e-6 ? 0 : t);
            eb_strbuf_printf(b,
                      "<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                      "<text x=\"%g\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%s</text>\n",
                      px, y, px + pw, y, px - 6, y + 4, num);
        }
    }
    eb_strbuf_printf(b,
              "<text transform=\"translate(%g,%g) rotate(-90)\" font-size=\"12\" "
              "text-anchor=\"middle\">",
              px - 58, py + ph / 2);
    sb_text(b, p->ylabel);
    eb_strbuf_printf(b, "</text>\n");
    /* bars */
    double gw = pw / (p->ncat > 0 ? p->ncat : 1);
    int nb = p->stacked ? 1 : p->nser;
    double bw = gw * 0.8 / (nb > 0 ? nb : 1);
    for (int c = 0; c < p->ncat; c++) {
        double gx = px + c * gw + gw * 0.1;
        double stack = 0;
        for (int s = 0; s < p->nser; s++) {
            double v = p->values[s * p->ncat + c];
            if (!isfinite(v)) continue;
            double base = p->stacked ? stack : (p->logy ? ymin : (ymin < 0 ? 0 : ymin));
            double top = p->stacked ? stack + v : v;
            if (p->stacked) stack += v;
            if (p->logy && (top <= 0 || base <= 0)) {
                if (top <= 0) continue;
                if (base <= 0) base = ymin;
            }
            if (top > ymax) top = ymax;
            double x = gx + (p->stacked ? 0 : s * bw);
            double y1 = YPOS(top), y2 = YPOS(base);
            if (y1 > y2) {
                double t = y1;
                y1 = y2;
                y2 = t;
            }
            eb_strbuf_printf(b,
                      "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
                      "<title>",
                      x, y1, bw * 0.95, y2 - y1, COLORS[s % 10]);
            sb_text(b, p->series[s]);
            eb_strbuf_printf(b, " / ");
            sb_text(b, p->cats[c]);
            eb_strbuf_printf(b, ": %g</title></rect>\n", v);
        }
        eb_strbuf_printf(b, "<text x=\"%.1f\" y=\"%g\" font-size=\"11\" text-anchor=\"middle\">",
                  px + c * gw + gw / 2, py + ph + 16);
        sb_text(b, p->cats[c]);
        eb_strbuf_printf(b, "</text>\n");
    }
    eb_strbuf_printf(b,
              "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" "
              "stroke=\"#333\"/>\n",
              px, py, pw, ph);
    /* legend */
    for (int s = 0; s < p->nser; s++) {
        double ly = py + 8 + s * 18;
        eb_strbuf_printf(b,
                  "<rect x=\"%g\" y=\"%g\" width=\"12\" height=\"12\" fill=\"%s\"/>"
                  "<text x=\"%g\" y=\"%g\" font-size=\"12\">",
                  px + pw + 12, ly, COLORS[s % 10], px + pw + 30, ly + 10);
        sb_text(b, p->series[s]);
        eb_strbuf_printf(b, "</text>\n");
    }
#undef YPOS
}

eb_status eb_svg_render(const char *title, const eb_svg_panel *panels, int npanels, char **out,
                        size_t *len, eb_error *err) {
    eb_strbuf b = {NULL, 0, 0, 0, NULL};
    double h = TOP + npanels * PH;
    eb_strbuf_printf(&b,
              "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
              "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%g\" "
              "viewBox=\"0 0 %d %g\" font-family=\"sans-serif\">\n"
              "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
              "<text x=\"%d\" y=\"24\" font-size=\"17\" font-weight=\"bold\" "
              "text-anchor=\"middle\">",
              W, h, W, h, W / 2);
    sb_text(&b, title);
    eb_strbuf_printf(&b, "</text>\n");
    for (int i = 0; i < npanels; i++)
        panel(&b, &panels[i], TOP + i * PH);
    eb_strbuf_printf(&b, "</svg>\n");
    if (b.oom) {
        eb_free(NULL, b.s);
        return eb_fail(err, EB_ERR_NOMEM, "svg: out of memory");
    }
    *out = b.s;
    *len = b.n;
    return EB_OK;
}

eb_status eb_svg_write(const char *path, const char *title, const eb_svg_panel *panels, int npanels,
                       eb_error *err) {
    char *s = NULL;
    size_t n = 0;
    eb_status st = eb_svg_render(title, panels, npanels, &s, &n, err);
    if (st) return st;
    st = eb_write_file_atomic(path, s, n, err);
    eb_free(NULL, s);
    return st;
}
