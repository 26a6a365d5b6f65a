/* PLACEHOLDER while the real source is written: refuses to start. */
#include "agent.h"

src *src_journal_new(agent *a, const agent_source_cfg *cfg) {
    agent_log(a, "error", "source %s: journal sources are not available in this build", cfg->name);
    return NULL;
}
