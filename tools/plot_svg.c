/* SVG line charts with log axes (see plot_svg.h). */
#include "plot_svg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clformer.h"

void plot_add(struct plot_panel *p, const char *name, double x, double y)
{
    int i = 0;
    while (i < p->n_series && strcmp(p->series[i].name, name))
        i++;
    if (i == p->n_series) {
        if (i == PLOT_MAX_SERIES)
            return;
        snprintf(p->series[i].name, sizeof p->series[i].name, "%s", name);
        p->series[i].n = 0;
        p->n_series++;
    }
    struct plot_series *s = &p->series[i];
    if (s->n < PLOT_MAX_POINTS) {
        s->x[s->n] = x;
        s->y[s->n] = y;
        s->n++;
    }
}

/* Colours that stay apart for the usual number of series. */
static const char *colour(int i)
{
    static const char *c[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
                              "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#000000", "#aec7e8"};
    return c[i % 12];
}

/* Writes text with &, < and > escaped. */
static void put_text(FILE *f, const char *s)
{
    for (; *s; s++)
        fputs(*s == '&' ? "&amp;" : *s == '<' ? "&lt;" : *s == '>' ? "&gt;" : (char[]){*s, 0}, f);
}

/* Range of log10 over the positive values of a panel, padded to whole decades. */
static void log_range(const struct plot_panel *p, bool xs, double *lo, double *hi)
{
    double a = INFINITY, b = -INFINITY;
    for (int i = 0; i < p->n_series; i++)
        for (int j = 0; j < p->series[i].n; j++) {
            double v = xs ? p->series[i].x[j] : p->series[i].y[j];
            if (v > 0 && p->series[i].y[j] > 0) {
                a = fmin(a, log10(v));
                b = fmax(b, log10(v));
            }
        }
    if (!isfinite(a)) {
        a = 0;
        b = 1;
    }
    *lo = floor(a);
    *hi = ceil(b) > floor(a) ? ceil(b) : floor(a) + 1;
}

/* A series' colour: its index in the legend panel, so that one name keeps
 * one colour in every panel. */
static int colour_index(const struct plot_panel *legend, const char *name, int fallback)
{
    for (int i = 0; i < legend->n_series; i++)
        if (!strcmp(legend->series[i].name, name))
            return i;
    return fallback;
}

static void panel(FILE *f, const struct plot_panel *p, const struct plot_panel *legend, double ox,
                  double oy, double w, double h)
{
    double x0, x1, y0, y1;
    log_range(p, true, &x0, &x1);
    log_range(p, false, &y0, &y1);
    const double L = 70, R = 20, T = 30, B = 50, pw = w - L - R, ph = h - T - B;
#define PX(v) (ox + L + (log10(v) - x0) / (x1 - x0) * pw)
#define PY(v) (oy + T + ph - (log10(v) - y0) / (y1 - y0) * ph)
    fprintf(f, "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='none' stroke='#444'/>\n",
            ox + L, oy + T, pw, ph);
    fprintf(f, "<text x='%.1f' y='%.1f' text-anchor='middle' font-size='14'>", ox + L + pw / 2,
            oy + 20);
    put_text(f, p->title);
    fputs("</text>\n", f);
    for (int e = (int)x0; e <= (int)x1; e++) { /* decades, and 2x/5x ticks on x */
        static const int mult[] = {1, 2, 5};
        for (int mi = 0; mi < 3; mi++) {
            double v = mult[mi] * pow(10, e), x;
            if (log10(v) > x1 + 1e-9)
                break;
            x = PX(v);
            fprintf(f, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#ddd'/>\n", x,
                    oy + T, x, oy + T + ph);
            fprintf(f, "<text x='%.1f' y='%.1f' text-anchor='middle' font-size='11'>%g</text>\n",
                    x, oy + T + ph + 16, v);
        }
    }
    for (int e = (int)y0; e <= (int)y1; e++) {
        double y = PY(pow(10, e));
        fprintf(f, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#ddd'/>\n", ox + L, y,
                ox + L + pw, y);
        fprintf(f, "<text x='%.1f' y='%.1f' text-anchor='end' font-size='11'>1e%d</text>\n",
                ox + L - 6, y + 4, e);
    }
    fprintf(f, "<text x='%.1f' y='%.1f' text-anchor='middle' font-size='12'>", ox + L + pw / 2,
            oy + h - 12);
    put_text(f, p->xlabel);
    fprintf(f, "</text>\n<text x='%.1f' y='%.1f' text-anchor='middle' font-size='12' "
               "transform='rotate(-90 %.1f %.1f)'>",
            ox + 16, oy + T + ph / 2, ox + 16, oy + T + ph / 2);
    put_text(f, p->ylabel);
    fputs("</text>\n", f);
    for (int i = 0; i < p->n_series; i++) {
        const struct plot_series *s = &p->series[i];
        const char *c = colour(colour_index(legend, s->name, i));
        fprintf(f, "<polyline fill='none' stroke='%s' stroke-width='2' points='", c);
        for (int j = 0; j < s->n; j++)
            if (s->x[j] > 0 && s->y[j] > 0)
                fprintf(f, "%.1f,%.1f ", PX(s->x[j]), PY(s->y[j]));
        fputs("'/>\n", f);
        for (int j = 0; j < s->n; j++)
            if (s->x[j] > 0 && s->y[j] > 0)
                fprintf(f, "<circle cx='%.1f' cy='%.1f' r='3' fill='%s'/>\n", PX(s->x[j]),
                        PY(s->y[j]), c);
    }
#undef PX
#undef PY
}

bool plot_write_svg(const char *path, const char *title, const struct plot_panel *panels,
                    int n_panels, char *msg, size_t size)
{
    /* built in memory, then written as every output is (clf_file_write) */
    char *text = NULL;
    size_t text_size = 0;
    FILE *f = open_memstream(&text, &text_size);
    if (!f) {
        snprintf(msg, size, "%s: no memory for the plot", path);
        return false;
    }
    const double w = 440, h = 340;
    int n_legend = 0;
    for (int p = 0; p < n_panels; p++)
        n_legend = panels[p].n_series > n_legend ? panels[p].n_series : n_legend;
    double width = w * n_panels, height = h + 40 + 18.0 * n_legend;
    fprintf(f, "<?xml version='1.0' encoding='UTF-8'?>\n<svg xmlns='http://www.w3.org/2000/svg' "
               "width='%.0f' height='%.0f' font-family='sans-serif'>\n"
               "<rect width='100%%' height='100%%' fill='white'/>\n",
            width, height);
    fprintf(f, "<text x='%.1f' y='22' text-anchor='middle' font-size='16'>", width / 2);
    put_text(f, title);
    fputs("</text>\n", f);
    for (int p = 0; p < n_panels; p++)
        panel(f, &panels[p], &panels[0], p * w, 30, w, h);
    /* legend from the first panel's series order */
    const struct plot_panel *lp = &panels[0];
    for (int i = 0; i < lp->n_series; i++) {
        double y = h + 50 + 18.0 * i;
        fprintf(f, "<line x1='80' y1='%.1f' x2='110' y2='%.1f' stroke='%s' stroke-width='2'/>\n",
                y - 4, y - 4, colour(i));
        fprintf(f, "<text x='118' y='%.1f' font-size='12'>", y);
        put_text(f, lp->series[i].name);
        fputs("</text>\n", f);
    }
    fputs("</svg>\n", f);
    bool ok = fclose(f) == 0;
    if (!ok)
        snprintf(msg, size, "%s: no memory for the plot", path);
    else
        ok = clf_file_write(path, text, text_size, msg, size) == CLF_OK;
    free(text);
    return ok;
}
