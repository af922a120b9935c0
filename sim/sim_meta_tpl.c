/*
 * broadcast-sim: Meta's message templates. One table: the templates a send
 * may name (with their pricing category) and what
 * GET /{version}/{waba-id}/message_templates lists, paged with opaque
 * before/after cursors and a "next" link as the Graph API pages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>
#include <jansson.h>

#include "sim.h"
#include "sim_http.h"

typedef struct {
    const char *id;
    const char *name;
    const char *language;
    const char *category;       /* lower case: ours; Meta lists upper case */
    const char *components;     /* JSON array, as Meta returns it */
} sim_meta_tpl_t;

static const sim_meta_tpl_t sim_meta_tpls[] = {
    { "1192339204654487", "hello_world", "en_US", "utility",
      "[{\"type\":\"HEADER\",\"format\":\"TEXT\",\"text\":\"Hello World\"},"
      "{\"type\":\"BODY\",\"text\":\"Welcome and congratulations!! This "
      "message demonstrates your ability to send a WhatsApp message "
      "notification from the Cloud API, hosted by Meta. Thank you for "
      "taking the time to test with us.\"},{\"type\":\"FOOTER\",\"text\":"
      "\"WhatsApp Business Platform sample message\"}]" },
    { "1192339204654488", "sim_marketing", "en_US", "marketing",
      "[{\"type\":\"BODY\",\"text\":\"Hi {{1}}, our sale ends {{2}}.\","
      "\"example\":{\"body_text\":[[\"Ann\",\"Sunday\"]]}}]" },
    { "1192339204654489", "order_update", "en_US", "utility",
      "[{\"type\":\"BODY\",\"text\":\"Your order {{1}} has shipped.\","
      "\"example\":{\"body_text\":[[\"A-1001\"]]}}]" },
    { "1192339204654490", "order_update", "es_ES", "utility",
      "[{\"type\":\"BODY\",\"text\":\"Tu pedido {{1}} ha sido enviado.\","
      "\"example\":{\"body_text\":[[\"A-1001\"]]}}]" },
    { "1192339204654491", "login_code", "en_US", "authentication",
      "[{\"type\":\"BODY\",\"text\":\"{{1}} is your verification code.\"},"
      "{\"type\":\"BUTTONS\",\"buttons\":[{\"type\":\"OTP\",\"otp_type\":"
      "\"COPY_CODE\",\"text\":\"Copy code\"}]}]" },
};

#define SIM_META_NTPLS  (sizeof(sim_meta_tpls) / sizeof(sim_meta_tpls[0]))

const char *
sim_meta_tpl_category(const char *name, const char *lang)
{
    size_t i;

    for (i = 0; i < SIM_META_NTPLS; i++) {
        if (strcmp(sim_meta_tpls[i].name, name) == 0
            && strcmp(sim_meta_tpls[i].language, lang) == 0)
        {
            return sim_meta_tpls[i].category;
        }
    }
    return NULL;
}

/* a cursor is the hex of "<offset>": opaque to the client like Meta's
   base64 ones, and safe in a query string without escaping */
static void
cursor_of(size_t off, char *out, size_t outlen)
{
    char   raw[24];
    size_t i;

    snprintf(raw, sizeof(raw), "%zu", off);
    for (i = 0; raw[i] && 2 * i + 2 < outlen; i++) {
        snprintf(out + 2 * i, 3, "%02x", (unsigned char) raw[i]);
    }
    out[2 * i] = '\0';
}

static long
cursor_offset(const char *c)
{
    size_t n = strlen(c), i;
    long   off = 0;

    if (n == 0 || n % 2 || n > 32 || strspn(c, "0123456789abcdef") != n) {
        return -1;
    }
    for (i = 0; i < n; i += 2) {
        if (c[i] != '3' || c[i + 1] > '9') {
            return -1;
        }
        off = off * 10 + (c[i + 1] - '0');
    }
    return off;
}

static json_t *
tpl_json(const sim_meta_tpl_t *t)
{
    char cat[32];
    size_t i;

    for (i = 0; t->category[i] && i < sizeof(cat) - 1; i++) {
        cat[i] = (char) (t->category[i] - ('a' <= t->category[i]
                                           && t->category[i] <= 'z' ? 32 : 0));
    }
    cat[i] = '\0';
    return json_pack("{ss,so,ss,ss,ss,ss}", "name", t->name, "components",
        json_loads(t->components, 0, NULL), "language", t->language,
        "status", "APPROVED", "category", cat, "id", t->id);
}

/* GET /{version}/{waba-id}/message_templates?limit=&after=&before= */
int
sim_meta_templates(struct MHD_Connection *c, sim_req_t *r,
    const char *version)
{
    const char *v;
    long        limit = 25, off = 0;
    size_t      i, end;
    json_t     *data, *paging, *cursors;
    char        before[48], after[48], next[700], prev[700];

    v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
    if (v != NULL) {
        limit = strtol(v, NULL, 10);
    }
    if (limit <= 0 || limit > 1000) {
        limit = 25;
    }
    v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "after");
    if (v != NULL) {
        off = cursor_offset(v);
        if (off < 0) {
            return sim_reply_json(c, r, 400, json_pack("{s{ss,ss,si,ss}}",
                "error", "message", "Invalid cursor", "type",
                "OAuthException", "code", 100, "fbtrace_id", "AsimCursor"),
                NULL);
        }
        off++;                       /* after the row the cursor names */
    }
    v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "before");
    if (v != NULL && cursor_offset(v) >= 0) {
        off = cursor_offset(v) - limit;
        off = off < 0 ? 0 : off;
    }
    data = json_array();
    end = (size_t) off + (size_t) limit;
    for (i = (size_t) off; i < SIM_META_NTPLS && i < end; i++) {
        json_array_append_new(data, tpl_json(&sim_meta_tpls[i]));
    }
    paging = json_object();
    if (json_array_size(data) > 0) {
        cursor_of((size_t) off, before, sizeof(before));
        cursor_of((size_t) off + json_array_size(data) - 1, after,
            sizeof(after));
        cursors = json_pack("{ss,ss}", "before", before, "after", after);
        json_object_set_new(paging, "cursors", cursors);
        if (end < SIM_META_NTPLS) {
            snprintf(next, sizeof(next), "%s/%s/%s/message_templates?"
                "limit=%ld&after=%s", sim_base_url, version,
                sim_meta_waba_id, limit, after);
            json_object_set_new(paging, "next", json_string(next));
        }
        if (off > 0) {
            snprintf(prev, sizeof(prev), "%s/%s/%s/message_templates?"
                "limit=%ld&before=%s", sim_base_url, version,
                sim_meta_waba_id, limit, before);
            json_object_set_new(paging, "previous", json_string(prev));
        }
    }
    return sim_reply_json(c, r, 200, json_pack("{so,so}", "data", data,
        "paging", paging), NULL);
}
