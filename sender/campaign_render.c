/*
 * A campaign's variants (campaign_variants.proto, built by the module) and
 * what one recipient gets of them: the variant by weight, the address by
 * channel, the variables and the rendered job (docs/DESIGN.md "Campaigns":
 * Proto, Variables, Address).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_template.h"
#include "campaign.h"

enum { SND_CC_NAME = 0, SND_CC_PHONE, SND_CC_WHATSAPP, SND_CC_EMAIL,
       SND_CC_ATTRIBUTES, SND_CC_LOCALE, SND_CC_TIMEZONE };

/* WhatsApp free-form text needs the customer's 24-hour window; a Twilio
   Content template (content_sid) or a Meta template does not */
static int
snd_camp_free_form(const snd_camp_variant_t *v)
{
    json_t  *msg;

    if (strcmp(v->channel, "whatsapp") != 0) {
        return 0;
    }
    if (json_string_value(json_object_get(v->extra, "content_sid")) != NULL
        || json_object_get(v->extra, "template") != NULL)
    {
        return 0;
    }
    msg = json_object_get(v->extra, "message");
    return !json_is_string(json_object_get(msg, "type"))
           || strcmp(json_string_value(json_object_get(msg, "type")),
                     "template") != 0;
}

static int
snd_camp_copy(json_t *o, const char *key, char *out, size_t outlen,
    int required)
{
    const char  *v = json_string_value(json_object_get(o, key));

    out[0] = '\0';
    if (v == NULL) {
        return required ? -1 : 0;
    }
    if (strlen(v) >= outlen) {
        return -1;
    }
    strcpy(out, v);
    return 0;
}

int
snd_camp_proto(snd_camp_variant_t *v, const char *text, char *why,
    size_t whylen)
{
    json_t        *p, *extra;
    json_error_t   jerr;

    p = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(p)) {
        snprintf(why, whylen, "a variant's content is not a JSON object%s%s",
            p == NULL ? ": " : "", p == NULL ? jerr.text : "");
        json_decref(p);
        return -1;
    }
    extra = json_object_get(p, "extra");
    if (snd_camp_copy(p, "channel", v->channel, sizeof(v->channel), 1) != 0
        || snd_camp_copy(p, "provider", v->provider, sizeof(v->provider), 1)
        || snd_camp_copy(p, "from", v->from, sizeof(v->from), 0)
        || snd_camp_copy(p, "messaging_service_sid", v->mss, sizeof(v->mss),
                         0)
        || !json_is_string(json_object_get(p, "body"))
        || (extra != NULL && !json_is_null(extra) && !json_is_object(extra)))
    {
        snprintf(why, whylen, "a variant's content lacks channel, provider "
            "or body, or its extra is not an object");
        json_decref(p);
        return -1;
    }
    v->body = json_incref(json_object_get(p, "body"));
    v->extra = json_is_object(extra) ? json_incref(extra) : NULL;
    v->free_form = snd_camp_free_form(v);
    json_decref(p);
    return 0;
}

void
snd_camp_variants_free(snd_camp_t *c)
{
    int  i;

    for (i = 0; i < c->nvariants; i++) {
        json_decref(c->variants[i].body);
        json_decref(c->variants[i].extra);
    }
    free(c->variants);
    c->variants = NULL;
    c->nvariants = 0;
    c->total_weight = 0;
}

/* 0 loaded; 1 the campaign failed (its protos cannot be used); -1 error */
int
snd_camp_variants_load(snd_disp_t *d, snd_camp_t *c)
{
    snd_buf_t    q = { 0 };
    MYSQL_RES   *res;
    MYSQL_ROW    row;
    char         why[256];
    int          n, rc = 0;

    snd_camp_variants_free(c);
    snd_buf_add(&q, "SELECT weight,proto FROM campaign_variants WHERE "
        "campaign_id=%lld ORDER BY idx", c->id);
    res = snd_db_select(d->s, &q);
    if (res == NULL) {
        return -1;
    }
    n = (int) mysql_num_rows(res);
    c->variants = calloc(n > 0 ? n : 1, sizeof(snd_camp_variant_t));
    if (c->variants == NULL) {
        mysql_free_result(res);
        return -1;
    }
    why[0] = '\0';
    while ((row = mysql_fetch_row(res)) != NULL) {
        snd_camp_variant_t *v = &c->variants[c->nvariants];
        if (snd_camp_proto(v, row[1] ? row[1] : "", why, sizeof(why)) != 0)
        {
            break;
        }
        c->nvariants++;
        v->weight = row[0] ? atoi(row[0]) : 0;
        if (v->weight < 0) {
            v->weight = 0;
        }
        c->total_weight += v->weight;
    }
    mysql_free_result(res);
    if (why[0] == '\0' && (c->nvariants == 0 || c->total_weight == 0)) {
        snprintf(why, sizeof(why), "the campaign has no variant with a "
            "positive weight");
    }
    if (why[0] != '\0') {
        rc = snd_camp_fail(d, c, why) == 0 ? 1 : -1;
    }
    return rc;
}

/* splitmix64: the same contact gets the same variant in every turn and
   every process, and weights split a large audience evenly */
static unsigned long long
snd_camp_hash(unsigned long long x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

int
snd_camp_pick(const snd_camp_t *c, long long contact_id)
{
    unsigned long long  h;
    long long           at;
    int                 i;

    h = snd_camp_hash(snd_camp_hash((unsigned long long) c->id)
                      ^ (unsigned long long) contact_id);
    at = (long long) (h % (unsigned long long) c->total_weight);
    for (i = 0; i < c->nvariants; i++) {
        at -= c->variants[i].weight;
        if (at < 0) {
            return i;
        }
    }
    return c->nvariants - 1;
}

static int
snd_camp_vars_add(json_t *vars, json_t *from)
{
    const char  *key;
    json_t      *v, *t;

    json_object_foreach(from, key, v) {
        t = bc_template_text(v);
        if (t != NULL && json_object_set_new(vars, key, t) != 0) {
            return -1;
        }
    }
    return 0;
}

json_t *
snd_camp_vars(const snd_camp_t *c, MYSQL_ROW cols)
{
    static const struct { const char *name; int col; } columns[] = {
        { "name", SND_CC_NAME }, { "phone", SND_CC_PHONE },
        { "whatsapp", SND_CC_WHATSAPP }, { "email", SND_CC_EMAIL },
        { "locale", SND_CC_LOCALE },
    };
    json_t  *vars, *attrs = NULL;
    size_t   i;

    vars = json_object();
    if (vars == NULL) {
        return NULL;
    }
    if (cols != NULL && cols[SND_CC_ATTRIBUTES] != NULL) {
        attrs = json_loads(cols[SND_CC_ATTRIBUTES], 0, NULL);
    }
    if (snd_camp_vars_add(vars, attrs) != 0) {
        goto failed;
    }
    for (i = 0; cols != NULL && i < sizeof(columns) / sizeof(columns[0]);
         i++)
    {
        if (cols[columns[i].col] != NULL
            && json_object_set_new(vars, columns[i].name,
                                   json_string(cols[columns[i].col])) != 0)
        {
            goto failed;
        }
    }
    if (snd_camp_vars_add(vars, c->tvars) != 0) {
        goto failed;
    }
    json_decref(attrs);
    return vars;
failed:
    json_decref(attrs);
    json_decref(vars);
    return NULL;
}

void
snd_camp_address(const snd_camp_variant_t *v, MYSQL_ROW cols, char *out,
    size_t outlen)
{
    const char  *a = NULL;

    out[0] = '\0';
    if (strcmp(v->channel, "email") == 0) {
        a = cols[SND_CC_EMAIL];
    } else if (strcmp(v->channel, "whatsapp") == 0) {
        a = cols[SND_CC_WHATSAPP] != NULL && cols[SND_CC_WHATSAPP][0] != '\0'
            ? cols[SND_CC_WHATSAPP] : cols[SND_CC_PHONE];
    } else {
        a = cols[SND_CC_PHONE];
    }
    if (a == NULL || a[0] == '\0') {
        return;
    }
    /* Twilio's WhatsApp numbers carry the prefix, Meta's do not */
    snprintf(out, outlen, "%s%s",
             strcmp(v->channel, "whatsapp") == 0
             && strcmp(v->provider, "twilio") == 0 ? "whatsapp:" : "", a);
}

int
snd_camp_render(const snd_camp_variant_t *v, json_t *vars, bc_job_t *job)
{
    json_t   *missing, *body, *extra = NULL;
    int       rc = -1;

    missing = json_array();
    body = bc_template_render_json(v->body, vars, missing);
    if (v->extra != NULL) {
        extra = bc_template_render_json(v->extra, vars, missing);
    }
    if (missing == NULL || body == NULL || (v->extra != NULL && extra == NULL))
    {
        goto done;
    }
    if (json_array_size(missing) > 0) {
        rc = 0;
        goto done;
    }
    snprintf(job->channel, sizeof(job->channel), "%s", v->channel);
    snprintf(job->provider, sizeof(job->provider), "%s", v->provider);
    snprintf(job->from, sizeof(job->from), "%s", v->from);
    snprintf(job->messaging_service_sid, sizeof(job->messaging_service_sid),
             "%s", v->mss);
    job->body = strdup(json_string_value(body));
    job->extra = extra != NULL ? json_dumps(extra, JSON_COMPACT
                                                   | JSON_PRESERVE_ORDER)
                               : NULL;
    if (job->body == NULL || (extra != NULL && job->extra == NULL)) {
        bc_job_free(job);
        goto done;
    }
    rc = 1;
done:
    json_decref(missing);
    json_decref(body);
    json_decref(extra);
    return rc;
}

/* the zone of name, read once per process (an unknown name is cached as
   UTC, so it is not read again each turn) */
static const bc_tz_t *
snd_camp_zone(snd_disp_t *d, const char *name)
{
    snd_camp_zone_t  *z;
    int               i;

    if (name == NULL || name[0] == '\0' || strlen(name) >= sizeof(z->name))
    {
        return NULL;
    }
    for (i = 0; i < d->nzones; i++) {
        if (strcmp(d->zones[i].name, name) == 0) {
            return d->zones[i].tz;
        }
    }
    z = realloc(d->zones, (d->nzones + 1) * sizeof(*z));
    if (z == NULL) {
        return NULL;
    }
    d->zones = z;
    z = &d->zones[d->nzones++];
    strcpy(z->name, name);
    z->tz = bc_tz_load(name);
    if (z->tz == NULL) {
        snd_log(SND_LOG_WARN, "time zone \"%s\" is not in " BC_TZ_DIR
            "; quiet hours use UTC for it", name);
    }
    return z->tz;
}

int
snd_camp_quiet(snd_disp_t *d, const snd_camp_t *c, const char *zone,
    long long now_s, long long *until)
{
    int64_t  end;

    if (zone == NULL || zone[0] == '\0') {
        zone = c->quiet_zone;
    }
    if (c->quiet_start < 0
        || !bc_tz_quiet(snd_camp_zone(d, zone), now_s, c->quiet_start,
                        c->quiet_end, &end))
    {
        return 0;
    }
    *until = end;
    return 1;
}

void
snd_camp_zones_free(snd_disp_t *d)
{
    int  i;

    for (i = 0; i < d->nzones; i++) {
        bc_tz_free(d->zones[i].tz);
    }
    free(d->zones);
    d->zones = NULL;
    d->nzones = 0;
}
