/* ward-rules check --report: what a directory of Sigma rules gives ward. */
#ifndef WARD_TOOLS_SIGMA_REPORT_H
#define WARD_TOOLS_SIGMA_REPORT_H

#include <stdio.h>

/* Loads every YAML rule file under paths (files or directories, recursively, in name
 * order) and prints to out "N of M rules loaded (P%)", then each refused rule (file:line,
 * id, title, and every reason the loader gave), the refusals grouped by reason with
 * counts, and the warnings about rules that loaded: log sources ward's table does not
 * have, and fields the decoders of a rule's log source do not produce. Returns 0 when
 * every rule loaded, 1 when some did not (or a file could not be read), 2 when no path
 * was given. */
int sigma_report_run(char **paths, int npaths, FILE *out);

#endif
