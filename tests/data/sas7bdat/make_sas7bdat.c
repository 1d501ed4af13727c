/* Write a SAS data set (sas7bdat) with ReadStat's writer, from a small tab-separated text:
 *   line 1: the dataset's name and label, tab-separated
 *   line 2: the variable names
 *   line 3: the types: C<length> (character), N (number) or D (a date: a number of days
 *           since 1960-01-01 written as YYYY-MM-DD in the text, format DATE9.)
 *   line 4: the variable labels
 *   then one line per record; an empty field is a missing value.
 * Usage: make_sas7bdat IN.tsv OUT.sas7bdat
 * Build: cc -O1 -I SRC -o make_sas7bdat make_sas7bdat.c SRC/*.c SRC/sas/*.c
 *        (SRC: the src/ folder of ReadStat, e.g. of the pyreadstat source distribution). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "readstat.h"

#define MAXV 64
#define MAXL 4096

static ssize_t write_bytes(const void *data, size_t len, void *ctx) {
    return write(*(int *)ctx, data, len);
}

static int split(char *line, char **fields) {
    int n = 0;
    line[strcspn(line, "\r\n")] = 0;
    fields[n++] = line;
    for (char *p = line; *p; p++) {
        if (*p == '\t') { *p = 0; fields[n++] = p + 1; }
    }
    return n;
}

static double days(const char *iso) { /* days since 1960-01-01 of YYYY-MM-DD */
    struct tm t = {0};
    sscanf(iso, "%d-%d-%d", &t.tm_year, &t.tm_mon, &t.tm_mday);
    t.tm_year -= 1900; t.tm_mon -= 1; t.tm_hour = 12;
    return (double)((timegm(&t) / 86400) + 3653);
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: make_sas7bdat IN.tsv OUT.sas7bdat\n"); return 2; }
    FILE *in = fopen(argv[1], "r");
    if (!in) { perror(argv[1]); return 1; }
    static char head[4][MAXL], rows[1024][MAXL];
    char *meta[MAXV], *names[MAXV], *types[MAXV], *labels[MAXV], *cells[MAXV];
    for (int i = 0; i < 4; i++) if (!fgets(head[i], MAXL, in)) { fprintf(stderr, "short file\n"); return 1; }
    int nrows = 0;
    while (nrows < 1024 && fgets(rows[nrows], MAXL, in)) nrows++;
    fclose(in);
    split(head[0], meta);
    int nvars = split(head[1], names);
    split(head[2], types);
    split(head[3], labels);
    int fd = open(argv[2], O_CREAT | O_WRONLY | O_TRUNC, 0644);
    readstat_writer_t *writer = readstat_writer_init();
    readstat_set_data_writer(writer, &write_bytes);
    readstat_writer_set_table_name(writer, meta[0]);
    readstat_writer_set_file_label(writer, meta[1]);
    readstat_variable_t *vars[MAXV];
    for (int j = 0; j < nvars; j++) {
        int text = types[j][0] == 'C';
        vars[j] = readstat_add_variable(writer, names[j], text ? READSTAT_TYPE_STRING : READSTAT_TYPE_DOUBLE,
                                        text ? atoi(types[j] + 1) : 8);
        readstat_variable_set_label(vars[j], labels[j]);
        if (types[j][0] == 'D') readstat_variable_set_format(vars[j], "DATE9.");
    }
    readstat_error_t error = readstat_begin_writing_sas7bdat(writer, &fd, nrows);
    for (int i = 0; i < nrows && error == READSTAT_OK; i++) {
        split(rows[i], cells);
        readstat_begin_row(writer);
        for (int j = 0; j < nvars; j++) {
            if (!cells[j][0]) readstat_insert_missing_value(writer, vars[j]);
            else if (types[j][0] == 'C') readstat_insert_string_value(writer, vars[j], cells[j]);
            else if (types[j][0] == 'D') readstat_insert_double_value(writer, vars[j], days(cells[j]));
            else readstat_insert_double_value(writer, vars[j], atof(cells[j]));
        }
        error = readstat_end_row(writer);
    }
    if (error == READSTAT_OK) error = readstat_end_writing(writer);
    readstat_writer_free(writer);
    close(fd);
    if (error != READSTAT_OK) { fprintf(stderr, "%s\n", readstat_error_message(error)); return 1; }
    return 0;
}
