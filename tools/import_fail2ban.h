/* ward-rules import-fail2ban: fail2ban filters into ward rules. */
#ifndef WARD_TOOLS_IMPORT_FAIL2BAN_H
#define WARD_TOOLS_IMPORT_FAIL2BAN_H

/* Runs "ward-rules import-fail2ban [--samples DIR] [--jail FILE] FILTER.conf... -o DIR"
 * (argv[0] is "import-fail2ban"). Writes one rule file per filter into DIR, reports
 * every filter or regex it could not convert (file and line, the reason) on stderr and
 * a summary on stdout. Returns 0 when every filter was imported, 1 when some filter
 * failed or was skipped, 2 on a usage error or an unwritable output directory. */
int import_fail2ban_main(int argc, char **argv);

#endif
