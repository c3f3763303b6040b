/* A small SVG line chart writer for `clformer bench --plot`: one or more
 * panels side by side, each with log-scaled x and y axes and one polyline
 * (with point markers) per series, plus a shared legend. */
#ifndef CLF_TOOLS_PLOT_SVG_H
#define CLF_TOOLS_PLOT_SVG_H

#include <stdbool.h>
#include <stdio.h>

#define PLOT_MAX_SERIES 12
#define PLOT_MAX_POINTS 16
#define PLOT_MAX_PANELS 3

struct plot_series {
    char name[64];
    int n;
    double x[PLOT_MAX_POINTS], y[PLOT_MAX_POINTS]; /* points with y <= 0 are skipped */
};

struct plot_panel {
    char title[64], xlabel[32], ylabel[32];
    int n_series;
    struct plot_series series[PLOT_MAX_SERIES];
};

/* Adds point (x, y) to the series called name in panel p (created on first
 * use); silently ignores points beyond the limits. */
void plot_add(struct plot_panel *p, const char *name, double x, double y);

/* Writes the panels as one SVG document (clf_file_write); false, with the
 * reason naming path in msg, when the file cannot be written. */
bool plot_write_svg(const char *path, const char *title, const struct plot_panel *panels,
                    int n_panels, char *msg, size_t size);

#endif
