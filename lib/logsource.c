/* Sigma log sources: the one table of what ward reads for each (product, service,
 * category) of a rule's logsource, and the derivations that take a Sigma field's value
 * out of one of ward's fields (an extension out of a URL path, a host out of a URL, a
 * key=value out of audit's msg='...').
 *
 * Decided per source from the SigmaHQ rules that use it. Field renamings follow the
 * pySigma taxonomy names (c-uri, c-useragent, cs-referrer, r-dns ...) to the fields the
 * decoders produce (decode.c). A derived value is always a part of the field's value,
 * which is itself a part of the line, so the literal prefilter stays sound. */
#include "ward/logsource.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ward/decode.h"

struct ward_logsource {
    /* A value; NULL: the rule must not set it; "*": anything; "?v": v or not set. */
    const char *product, *service, *category;
    const char *refuse; /* why ward cannot read it; NULL when it can */
    uint32_t decoders;
    const char *const *programs; /* NULL: any program */
    const ward_fieldmap *map;
    size_t nmap;
    const char *const *fields; /* what its decoders produce ("x.*" prefixes); NULL: open */
};

#define DEC(x) (1u << WARD_DECODER_##x)
/* Access logs, and JSON access logs with the same names; raw lines for keywords. */
#define DEC_WEB (DEC(COMBINED_ACCESS) | DEC(JSON) | DEC(RAW))
/* Host and application logs: any decoder but the access log's (decoders added later
 * included, as before the table). */
#define DEC_ALL ((1u << WARD_DECODER_COUNT) - 1)
#define DEC_TEXT (DEC_ALL & ~DEC(COMBINED_ACCESS))
#define MAP(m) m, sizeof(m) / sizeof((m)[0])
#define NOMAP NULL, 0

/* ---- fields the decoders produce ---- */

static const char *const f_access[] = {
    "c-ip",         "cs-username", "timestamp",      "cs-method", "cs-uri",     "cs-uri-stem",
    "cs-uri-query", "cs-version",  "sc-status",      "cs-bytes",  "cs-referer", "cs-user-agent",
    "cs-host",      "message",     "event.original", NULL};

static const char *const f_opencanary[] = {
    "dst_host",  "dst_port", "local_time", "local_time_adjusted",
    "logdata.*", "logtype",  "node_id",    "src_host",
    "src_port",  "utc_time", "message",    "event.original",
    NULL};

/* Kubernetes audit.k8s.io/v1 Event. */
static const char *const f_k8s[] = {"kind",
                                    "apiVersion",
                                    "level",
                                    "auditID",
                                    "stage",
                                    "requestURI",
                                    "verb",
                                    "user.*",
                                    "impersonatedUser.*",
                                    "sourceIPs",
                                    "sourceIPs.*",
                                    "userAgent",
                                    "objectRef.*",
                                    "responseStatus.*",
                                    "requestObject",
                                    "requestObject.*",
                                    "responseObject",
                                    "responseObject.*",
                                    "requestReceivedTimestamp",
                                    "stageTimestamp",
                                    "annotations.*",
                                    "message",
                                    "event.original",
                                    NULL};

/* ---- syslog programs of services ---- */

static const char *const p_sshd[] = {"sshd", "sshd-session", NULL};
static const char *const p_sudo[] = {"sudo", NULL};
static const char *const p_su[] = {"su", NULL};
static const char *const p_cron[] = {"cron", "crond", "CRON", "anacron", "crontab", NULL};
static const char *const p_vsftpd[] = {"vsftpd", NULL};
static const char *const p_clamav[] = {"clamd",     "freshclam",     "clamav",    "clamscan",
                                       "clamdscan", "clamav-milter", "clamonacc", NULL};
static const char *const p_auditd[] = {"auditd",  "audit",         "kernel",
                                       "audispd", "audisp-syslog", NULL};
static const char *const p_guacamole[] = {"guacd", "guacamole", NULL};
static const char *const p_auth[] = {
    "sshd",           "sshd-session", "sudo",    "su",           "login",       "passwd",
    "useradd",        "userdel",      "usermod", "groupadd",     "groupdel",    "chpasswd",
    "systemd-logind", "polkitd",      "pkexec",  "gdm-password", "unix_chkpwd", NULL};
static const char *const p_apache[] = {"apache2", "httpd", "apache", NULL};
static const char *const p_nginx[] = {"nginx", NULL};

/* ---- field renamings ---- */

#define TO1(a)                                                                                     \
    {                                                                                              \
        { a, WARD_DERIVE_NONE, NULL }                                                              \
    }
#define HOST_OF_URI                                                                                \
    { "cs-uri", WARD_DERIVE_URL_HOST, NULL }
#define NIL(a)                                                                                     \
    {                                                                                              \
        { a, WARD_DERIVE_NIL, NULL }                                                               \
    }

/* W3C extended names (and IIS's cs(Header) spellings) onto the combined_access decoder.
 * SigmaHQ's web server rules use cs-uri-query both for the query string (cmd=...) and for
 * the whole request target (/vpns/cfg/smb.conf): it matches either, except in a rule that
 * also names cs-uri-stem (those all mean the query string alone). A missing referer or
 * user agent is logged as "-": the rules mean it by null (and an empty agent by ''). %b of
 * the combined format is the response size, W3C's sc-bytes; the decoder calls it cs-bytes. */
static const ward_fieldmap m_webserver[] = {
    {"cs-uri-query", {{"cs-uri-query", 0, NULL}, {"cs-uri", 0, NULL}}, "cs-uri-stem"},
    {"c-uri", TO1("cs-uri"), NULL},
    {"c-uri-query", TO1("cs-uri-query"), NULL},
    {"c-uri-stem", TO1("cs-uri-stem"), NULL},
    {"c-uri-extension", {{"cs-uri-stem", WARD_DERIVE_EXTENSION, NULL}}, NULL},
    {"cs-uri-extension", {{"cs-uri-stem", WARD_DERIVE_EXTENSION, NULL}}, NULL},
    {"c-useragent", NIL("cs-user-agent"), NULL},
    {"cs-user-agent", NIL("cs-user-agent"), NULL},
    {"cs(User-Agent)", NIL("cs-user-agent"), NULL},
    {"cs-referer", NIL("cs-referer"), NULL},
    {"cs-referrer", NIL("cs-referer"), NULL},
    {"cs(Referer)", NIL("cs-referer"), NULL},
    {"cs-host", {{"cs-host", 0, NULL}, HOST_OF_URI}, NULL},
    {"cs(Host)", {{"cs-host", 0, NULL}, HOST_OF_URI}, NULL},
    {"r-dns", {{"cs-host", 0, NULL}, HOST_OF_URI}, NULL},
    {"src_ip", TO1("c-ip"), NULL},
    {"sc-bytes", TO1("cs-bytes"), NULL},
};

/* Proxy (BlueCoat-style) names: c-uri is the request target, absolute for a forward
 * proxy, where the rules' paths ('/admin/get.php') are its path part; the host is the
 * vhost or the URL's; the destination address is the URL's host when that is an address
 * (a log in the combined format has no other). */
#define URI_OR_PATH(f)                                                                             \
    {                                                                                              \
        {f, WARD_DERIVE_NONE, NULL}, {                                                             \
            f, WARD_DERIVE_URL_PATH, NULL                                                          \
        }                                                                                          \
    }
static const ward_fieldmap m_proxy[] = {
    {"c-uri", URI_OR_PATH("cs-uri"), NULL},
    {"cs-uri", URI_OR_PATH("cs-uri"), NULL},
    {"c-uri-query", TO1("cs-uri-query"), NULL},
    {"c-uri-stem", URI_OR_PATH("cs-uri-stem"), NULL},
    {"cs-uri-stem", URI_OR_PATH("cs-uri-stem"), NULL},
    {"c-uri-extension", {{"cs-uri-stem", WARD_DERIVE_EXTENSION, NULL}}, NULL},
    {"c-useragent", NIL("cs-user-agent"), NULL},
    {"cs-user-agent", NIL("cs-user-agent"), NULL},
    {"cs(User-Agent)", NIL("cs-user-agent"), NULL},
    {"cs-referer", NIL("cs-referer"), NULL},
    {"cs-referrer", NIL("cs-referer"), NULL},
    {"cs(Referer)", NIL("cs-referer"), NULL},
    {"cs-host", {{"cs-host", 0, NULL}, HOST_OF_URI}, NULL},
    {"r-dns", {{"cs-host", 0, NULL}, HOST_OF_URI}, NULL},
    {"src_ip", TO1("c-ip"), NULL},
    {"dst_ip", {HOST_OF_URI}, NULL}, /* when the URL's host is an address */
    {"sc-bytes", TO1("cs-bytes"), NULL},
};

/* Zeek http.log under the proxy names some rules use. */
static const ward_fieldmap m_zeek_http[] = {
    {"c-uri", TO1("uri"), NULL},
    {"c-useragent", TO1("user_agent"), NULL},
    {"cs-host", TO1("host"), NULL},
    {"r-dns", TO1("host"), NULL},
    {"cs-method", TO1("method"), NULL},
    {"sc-status", TO1("status_code"), NULL},
    {"cs-referrer", TO1("referrer"), NULL},
    {"src_ip", TO1("id.orig_h"), NULL},
    {"dst_ip", TO1("id.resp_h"), NULL},
};

/* Generic DNS names onto Zeek's dns.log (and themselves, for other JSON DNS logs). */
static const ward_fieldmap m_dns[] = {
    {"record_type", {{"record_type", 0, NULL}, {"qtype_name", 0, NULL}}, NULL},
    {"answer", {{"answer", 0, NULL}, {"answers", 0, NULL}}, NULL},
    {"src_ip", {{"src_ip", 0, NULL}, {"id.orig_h", 0, NULL}}, NULL},
    {"dst_ip", {{"dst_ip", 0, NULL}, {"id.resp_h", 0, NULL}}, NULL},
};

/* Generic firewall names onto FortiGate traffic (kv), iptables (kv over the kernel line)
 * and Zeek conn (JSON). */
static const ward_fieldmap m_firewall[] = {
    {"dst_port",
     {{"dst_port", 0, NULL}, {"dstport", 0, NULL}, {"DPT", 0, NULL}, {"id.resp_p", 0, NULL}},
     NULL},
    {"src_port",
     {{"src_port", 0, NULL}, {"srcport", 0, NULL}, {"SPT", 0, NULL}, {"id.orig_p", 0, NULL}},
     NULL},
    {"dst_ip",
     {{"dst_ip", 0, NULL}, {"dstip", 0, NULL}, {"DST", 0, NULL}, {"id.resp_h", 0, NULL}},
     NULL},
    {"src_ip",
     {{"src_ip", 0, NULL}, {"srcip", 0, NULL}, {"SRC", 0, NULL}, {"id.orig_h", 0, NULL}},
     NULL},
};

/* Audit records: a field is the record's own key=value or, for the user-space records
 * (SERVICE_STOP, USER_*), one inside msg='...'. */
static const ward_fieldmap m_auditd[] = {
    {"*", {{WARD_FIELD_SELF, 0, NULL}, {"msg", WARD_DERIVE_KV, NULL}}, NULL},
};

/* Kubernetes audit events: the pod spec's parts the rules name are inside the request
 * object's arrays, which the json decoder keeps as raw text. */
static const ward_fieldmap m_k8s[] = {
    {"apiGroup", TO1("objectRef.apiGroup"), NULL},
    {"hostPath", {{"requestObject.spec.volumes", WARD_DERIVE_JSON_KEY, "hostPath"}}, NULL},
    {"capabilities",
     {{"requestObject.spec.containers", WARD_DERIVE_JSON_KEY, "capabilities"},
      {"requestObject.spec.initContainers", WARD_DERIVE_JSON_KEY, "capabilities"},
      {"requestObject.spec.ephemeralContainers", WARD_DERIVE_JSON_KEY, "capabilities"}},
     NULL},
};

/* ---- the table: the first entry that matches a rule's logsource is its own ---- */

#define ZEEK(svc)                                                                                  \
    { "zeek", svc, NULL, NULL, DEC(JSON), NULL, NOMAP, NULL }
#define LINUX_SVC(svc, progs)                                                                      \
    { "?linux", svc, NULL, NULL, DEC_TEXT, progs, NOMAP, NULL }
#define NETDEV(prod, svc)                                                                          \
    { prod, svc, NULL, NULL, DEC_TEXT, NULL, NOMAP, NULL }
#define APP(prod)                                                                                  \
    { prod, NULL, "?application", NULL, DEC_TEXT, NULL, NOMAP, NULL }
#define REFUSE_LINUX_EDR                                                                           \
    "process, file and network events from Sysmon for Linux or an EDR agent, which ward does "     \
    "not read"
#define LINUX_EDR(cat)                                                                             \
    { "linux", NULL, cat, REFUSE_LINUX_EDR, 0, NULL, NOMAP, NULL }

static const ward_logsource table[] = {
    {"*", NULL, "webserver", NULL, DEC_WEB, NULL, MAP(m_webserver), f_access},
    {"*", NULL, "proxy", NULL, DEC_WEB, NULL, MAP(m_proxy), f_access},
    {NULL, NULL, "dns", NULL, DEC(JSON) | DEC(KV), NULL, MAP(m_dns), NULL},
    {NULL, NULL, "firewall", NULL, DEC(KV) | DEC(JSON), NULL, MAP(m_firewall), NULL},

    {"rpc_firewall", "*", "*", "Windows RPC Firewall events, which ward does not read", 0, NULL,
     NOMAP, NULL},
    {"windows", "*", "*", "Windows event logs (EVTX and ETW channels), which ward does not read", 0,
     NULL, NOMAP, NULL},
    {"macos", "*", "*", "macOS unified log and endpoint security events, which ward does not read",
     0, NULL, NOMAP, NULL},
    LINUX_EDR("process_creation"),
    LINUX_EDR("file_event"),
    LINUX_EDR("file_change"),
    LINUX_EDR("file_delete"),
    LINUX_EDR("file_rename"),
    LINUX_EDR("network_connection"),
    LINUX_EDR("raw_access_thread"),

    {"?linux", "auditd", NULL, NULL, DEC_TEXT, p_auditd, MAP(m_auditd), NULL},
    {"?linux", "audit", NULL, NULL, DEC_TEXT, p_auditd, MAP(m_auditd), NULL},
    LINUX_SVC("sshd", p_sshd),
    LINUX_SVC("sudo", p_sudo),
    LINUX_SVC("su", p_su),
    LINUX_SVC("cron", p_cron),
    LINUX_SVC("vsftpd", p_vsftpd),
    LINUX_SVC("clamav", p_clamav),
    LINUX_SVC("guacamole", p_guacamole),
    LINUX_SVC("auth", p_auth),
    {"?linux", "syslog", NULL, NULL, DEC_TEXT, NULL, NOMAP, NULL},
    {"linux", NULL, NULL, NULL, DEC_TEXT, NULL, NOMAP, NULL},
    {"?apache", "apache", NULL, NULL, DEC_TEXT, p_apache, NOMAP, NULL},
    {"?nginx", "nginx", NULL, NULL, DEC_TEXT, p_nginx, NOMAP, NULL},

    ZEEK("conn"),
    ZEEK("dns"),
    {"zeek", "http", NULL, NULL, DEC(JSON), NULL, MAP(m_zeek_http), NULL},
    ZEEK("files"),
    ZEEK("ssl"),
    ZEEK("x509"),
    ZEEK("smb_files"),
    ZEEK("smb_mapping"),
    ZEEK("dce_rpc"),
    ZEEK("rdp"),
    ZEEK("kerberos"),
    ZEEK("ntlm"),
    ZEEK("ssh"),
    ZEEK("smtp"),
    ZEEK("ftp"),
    ZEEK("dhcp"),
    ZEEK("notice"),
    ZEEK("weird"),
    ZEEK("software"),
    ZEEK("tunnel"),
    ZEEK("pe"),
    ZEEK("sip"),
    ZEEK("snmp"),

    {"opencanary", NULL, "?application", NULL, DEC(JSON), NULL, NOMAP, f_opencanary},
    {"kubernetes", "audit", "?application", NULL, DEC(JSON), NULL, MAP(m_k8s), f_k8s},
    {"github", "audit", NULL, NULL, DEC(JSON), NULL, NOMAP, NULL},
    {"bitbucket", "audit", NULL, NULL, DEC(JSON), NULL, NOMAP, NULL},
    {"fortigate", "event", NULL, NULL, DEC(KV), NULL, NOMAP, NULL},
    {"fortigate", "traffic", NULL, NULL, DEC(KV), NULL, NOMAP, NULL},
    {"fortigate", "utm", NULL, NULL, DEC(KV), NULL, NOMAP, NULL},
    NETDEV("cisco", "aaa"),
    NETDEV("cisco", "bgp"),
    NETDEV("cisco", "ldp"),
    NETDEV("huawei", "bgp"),
    NETDEV("juniper", "bgp"),
    APP("jvm"),
    APP("spring"),
    APP("python"),
    APP("nodejs"),
    APP("django"),
    APP("ruby_on_rails"),
    APP("sql"),
    APP("velocity"),
};

#define NTABLE (sizeof(table) / sizeof(table[0]))

/* ---- lookup ---- */

static int key_match(const char *want, const char *have) {
    if (!want)
        return have == NULL;
    if (strcmp(want, "*") == 0)
        return 1;
    if (want[0] == '?') {
        if (!have)
            return 1;
        want++;
    }
    return have && strcasecmp(want, have) == 0;
}

const ward_logsource *ward_logsource_find(const char *product, const char *service,
                                          const char *category) {
    if (!product && !service && !category)
        return NULL;
    for (size_t i = 0; i < NTABLE; i++) {
        const ward_logsource *ls = &table[i];
        if (key_match(ls->product, product) && key_match(ls->service, service) &&
            key_match(ls->category, category))
            return ls;
    }
    return NULL;
}

const char *ward_logsource_refusal(const ward_logsource *ls) {
    return ls ? ls->refuse : NULL;
}

uint32_t ward_logsource_decoders(const ward_logsource *ls) {
    return ls ? ls->decoders : (1u << WARD_DECODER_COUNT) - 1;
}

const char *const *ward_logsource_programs(const ward_logsource *ls) {
    return ls ? ls->programs : NULL;
}

const ward_fieldmap *ward_logsource_map(const ward_logsource *ls, size_t *n) {
    *n = ls ? ls->nmap : 0;
    return ls ? ls->map : NULL;
}

int ward_logsource_produces(const ward_logsource *ls, const char *name) {
    if (!ls || !ls->fields)
        return -1;
    for (const char *const *f = ls->fields; *f; f++) {
        size_t fl = strlen(*f);
        if (fl >= 2 && (*f)[fl - 1] == '*' && (*f)[fl - 2] == '.') {
            if (strncmp(name, *f, fl - 1) == 0 && name[fl - 1])
                return 1;
        } else if (strcmp(name, *f) == 0) {
            return 1;
        }
    }
    return 0;
}

void ward_logsource_format(const char *product, const char *service, const char *category,
                           char *buf, size_t len) {
    if (!len)
        return;
    buf[0] = 0;
    size_t o = 0;
    const char *names[3] = {"product", "service", "category"};
    const char *vals[3] = {product, service, category};
    for (int i = 0; i < 3; i++) {
        if (!vals[i] || o >= len)
            continue;
        int w = snprintf(buf + o, len - o, "%s%s=%s", o ? " " : "", names[i], vals[i]);
        if (w < 0)
            return;
        o += (size_t)w;
    }
    if (!buf[0])
        snprintf(buf, len, "none");
}

size_t ward_logsource_count(void) {
    return NTABLE;
}

const ward_logsource *ward_logsource_at(size_t i) {
    return i < NTABLE ? &table[i] : NULL;
}

void ward_logsource_keys(const ward_logsource *ls, const char **product, const char **service,
                         const char **category) {
    *product = ls ? ls->product : NULL;
    *service = ls ? ls->service : NULL;
    *category = ls ? ls->category : NULL;
}

const ward_fieldmap *ward_fieldmap_find(const ward_fieldmap *map, size_t n, const char *sigma) {
    const ward_fieldmap *any = NULL;
    for (size_t i = 0; map && i < n; i++) {
        if (strcmp(map[i].sigma, sigma) == 0)
            return &map[i];
        if (strcmp(map[i].sigma, "*") == 0)
            any = &map[i];
    }
    return any;
}

/* ---- derivations ---- */

const char *ward_derive_name(ward_derive d) {
    switch (d) {
    case WARD_DERIVE_EXTENSION:
        return "ext";
    case WARD_DERIVE_URL_HOST:
        return "host";
    case WARD_DERIVE_URL_PATH:
        return "path";
    case WARD_DERIVE_KV:
        return "kv";
    case WARD_DERIVE_JSON_KEY:
        return "json";
    case WARD_DERIVE_NIL:
        return "nil";
    default:
        return "";
    }
}

/* Where the authority of an absolute URL ("scheme://") starts, or 0 when s has none. */
static size_t after_scheme(const char *s, size_t n) {
    for (size_t i = 0; i < n && i < 32; i++) {
        char c = s[i];
        if (c == ':')
            return i > 0 && i + 2 < n && s[i + 1] == '/' && s[i + 2] == '/' ? i + 3 : 0;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '-' || c == '.'))
            return 0;
    }
    return 0;
}

static size_t find_any(const char *s, size_t from, size_t n, const char *set) {
    for (size_t i = from; i < n; i++)
        if (strchr(set, s[i]))
            return i;
    return n;
}

static int derive_extension(const char *s, size_t n, const char **out, size_t *outlen) {
    size_t start = 0, a = after_scheme(s, n);
    if (a) {
        start = find_any(s, a, n, "/?#");
        if (start == n || s[start] != '/')
            return 0; /* only a host: no path, no extension */
    }
    size_t end = find_any(s, start, n, "?#");
    size_t seg = start;
    for (size_t i = start; i < end; i++)
        if (s[i] == '/')
            seg = i + 1;
    size_t dot = end;
    for (size_t i = seg; i < end; i++)
        if (s[i] == '.')
            dot = i;
    if (dot == end || dot + 1 == end)
        return 0;
    *out = s + dot + 1;
    *outlen = end - dot - 1;
    return 1;
}

static int derive_host(const char *s, size_t n, const char **out, size_t *outlen) {
    size_t start = after_scheme(s, n);
    if (!start && (n == 0 || s[0] == '/' || s[0] == '*'))
        return 0; /* origin form: the host is not in the target */
    size_t end = find_any(s, start, n, "/?#");
    for (size_t i = end; i > start; i--)
        if (s[i - 1] == '@') {
            start = i;
            break;
        }
    if (start < end && s[start] == '[') {
        size_t rb = find_any(s, start, end, "]");
        if (rb == end)
            return 0;
        *out = s + start + 1;
        *outlen = rb - start - 1;
        return *outlen > 0;
    }
    size_t colon = end;
    for (size_t i = start; i < end; i++)
        if (s[i] == ':')
            colon = i;
    if (colon < end) {
        for (size_t i = colon + 1; i < end; i++)
            if (s[i] < '0' || s[i] > '9')
                return 0; /* not host:port */
        end = colon;
    }
    if (end == start)
        return 0;
    *out = s + start;
    *outlen = end - start;
    return 1;
}

static int is_blank(char c) {
    return c == ' ' || c == '\t';
}

/* KEY=VALUE at a word start in s; VALUE quoted ("..." or '...') or up to a blank. */
static int derive_kv(const char *key, const char *s, size_t n, const char **out, size_t *outlen) {
    size_t kl = key ? strlen(key) : 0;
    if (!kl)
        return 0;
    for (size_t i = 0; i + kl < n; i++) {
        if ((i > 0 && !is_blank(s[i - 1])) || memcmp(s + i, key, kl) != 0 || s[i + kl] != '=')
            continue;
        size_t v = i + kl + 1, e;
        if (v < n && (s[v] == '"' || s[v] == '\'')) {
            char q = s[v++];
            e = v;
            while (e < n && s[e] != q)
                e++;
        } else {
            e = v;
            while (e < n && !is_blank(s[e]))
                e++;
        }
        *out = s + v;
        *outlen = e - v;
        return 1;
    }
    return 0;
}

/* The end of the JSON value starting at s[i] (a string's closing quote included), or n. */
static size_t json_value_end(const char *s, size_t i, size_t n) {
    if (i >= n)
        return n;
    if (s[i] == '"') {
        for (size_t k = i + 1; k < n; k++) {
            if (s[k] == '\\')
                k++;
            else if (s[k] == '"')
                return k + 1;
        }
        return n;
    }
    if (s[i] == '{' || s[i] == '[') {
        int depth = 0;
        for (size_t k = i; k < n; k++) {
            if (s[k] == '"') {
                k = json_value_end(s, k, n) - 1;
                if (k + 1 >= n)
                    return n;
            } else if (s[k] == '{' || s[k] == '[') {
                depth++;
            } else if (s[k] == '}' || s[k] == ']') {
                if (--depth == 0)
                    return k + 1;
            }
        }
        return n;
    }
    size_t k = i;
    while (k < n && s[k] != ',' && s[k] != '}' && s[k] != ']' && s[k] != ' ' && s[k] != '\t' &&
           s[k] != '\r' && s[k] != '\n')
        k++;
    return k;
}

static int json_ws(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The first "KEY": VALUE, at any depth, of the raw JSON text s; a string's value
 * without its quotes (as written, escapes kept). */
static int derive_json_key(const char *key, const char *s, size_t n, const char **out,
                           size_t *outlen) {
    size_t kl = key ? strlen(key) : 0;
    if (!kl)
        return 0;
    for (size_t i = 0; i + kl + 2 <= n; i++) {
        if (s[i] != '"' || memcmp(s + i + 1, key, kl) != 0 || s[i + 1 + kl] != '"')
            continue;
        size_t b = i; /* a key follows '{' or ',' */
        while (b > 0 && json_ws(s[b - 1]))
            b--;
        if (b == 0 || (s[b - 1] != '{' && s[b - 1] != ','))
            continue;
        size_t v = i + kl + 2;
        while (v < n && json_ws(s[v]))
            v++;
        if (v >= n || s[v] != ':')
            continue;
        v++;
        while (v < n && json_ws(s[v]))
            v++;
        size_t e = json_value_end(s, v, n);
        if (v < n && s[v] == '"' && e > v + 1 && s[e - 1] == '"') {
            *out = s + v + 1;
            *outlen = e - v - 2;
        } else {
            *out = s + v;
            *outlen = e - v;
        }
        return 1;
    }
    return 0;
}

int ward_derive_value(ward_derive d, const char *key, const char *val, size_t len, const char **out,
                      size_t *outlen) {
    switch (d) {
    case WARD_DERIVE_NONE:
        *out = val;
        *outlen = len;
        return 1;
    case WARD_DERIVE_EXTENSION:
        return derive_extension(val, len, out, outlen);
    case WARD_DERIVE_URL_HOST:
        return derive_host(val, len, out, outlen);
    case WARD_DERIVE_URL_PATH: {
        size_t a = after_scheme(val, len);
        size_t p = a ? find_any(val, a, len, "/?#") : len;
        if (p == len)
            return 0;
        *out = val + p;
        *outlen = len - p;
        return 1;
    }
    case WARD_DERIVE_KV:
        return derive_kv(key, val, len, out, outlen);
    case WARD_DERIVE_JSON_KEY:
        return derive_json_key(key, val, len, out, outlen);
    case WARD_DERIVE_NIL:
        *out = val;
        *outlen = len == 1 && val[0] == '-' ? 0 : len;
        return 1;
    default:
        return 0;
    }
}
