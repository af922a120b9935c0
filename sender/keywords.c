/*
 * Inbound keywords, in the recorder thread: the text of every inbound SMS
 * and WhatsApp message is classified (opt-out, opt-in, help: whole-message
 * words of the configured lists, trimmed, case-folded) before the turn is
 * written, so that its opt-out change goes in with the inbound row; after
 * the commit, HELP and the keyword_rules auto-replies are queued on the
 * send stream like an API send, from the number the message was sent to.
 *
 * Anti-pumping: a reply is never sent to a blacklisted or opted-out
 * address, and at most once per address per rule per
 * keyword_reply_window_s (a Redis SET NX EX key), so that nobody can make
 * us send SMS to third parties by forging their number as the sender.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <pcre2.h>

#include "bc_id.h"
#include "recorder.h"

/* a regex rule may not backtrack without end on a hostile text */
#define SND_KW_MATCH_LIMIT   100000
#define SND_KW_DEPTH_LIMIT   10000
/* rules read per turn: more is a misconfiguration, not a use */
#define SND_KW_MAX_RULES     1000

typedef struct {
    char         key[24];         /* "help" or the rule id */
    char         match;           /* 'e'xact, 'c'ontains, 'r'egex */
    char        *keyword;         /* owned */
    char        *channel;         /* owned, "" every channel */
    char        *response;        /* owned */
    pcre2_code  *re;
} snd_kw_rule_t;

typedef struct {
    snd_kw_rule_t        *r;
    size_t                n;
    pcre2_match_context  *mctx;
    pcre2_match_data     *md;
} snd_kw_rules_t;


/* the text trimmed of ASCII white space: its start and length */
static const char *
snd_kw_trim(const char *t, size_t *len)
{
    size_t n;

    while (*t == ' ' || *t == '\t' || *t == '\r' || *t == '\n') {
        t++;
    }
    n = strlen(t);
    while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'
                     || t[n - 1] == '\r' || t[n - 1] == '\n'))
    {
        n--;
    }
    *len = n;
    return t;
}

/* 1 if the trimmed text is one of the comma-separated words of list
   (ASCII case-insensitive; other bytes compare as they are) */
static int
snd_kw_in_list(const char *list, const char *t, size_t len)
{
    const char  *p = list, *w, *e;
    size_t       wl;

    while (*p != '\0') {
        e = strchr(p, ',');
        if (e == NULL) {
            e = p + strlen(p);
        }
        w = p;
        while (w < e && (*w == ' ' || *w == '\t')) {
            w++;
        }
        wl = (size_t) (e - w);
        while (wl > 0 && (w[wl - 1] == ' ' || w[wl - 1] == '\t')) {
            wl--;
        }
        if (wl > 0 && wl == len && strncasecmp(w, t, len) == 0) {
            return 1;
        }
        p = *e == ',' ? e + 1 : e;
    }
    return 0;
}

/* a channel whose inbound text we classify and answer */
static int
snd_kw_channel(const snd_ev_t *e)
{
    return e->inbound && e->in_text != NULL && e->in_peer != NULL
           && e->in_channel != NULL
           && (strcmp(e->in_channel, "sms") == 0
               || strcmp(e->in_channel, "whatsapp") == 0);
}

void
snd_kw_classify(snd_t *s, snd_ev_t *ev, size_t n)
{
    size_t       i, len;
    const char  *t;
    snd_ev_t    *e;

    for (i = 0; i < n; i++) {
        e = &ev[i];
        if (!snd_kw_channel(e)) {
            continue;
        }
        t = snd_kw_trim(e->in_text, &len);
        if (snd_kw_in_list(s->conf.opt_out_keywords, t, len)) {
            e->kw = SND_KW_OPT_OUT;
        } else if (snd_kw_in_list(s->conf.opt_in_keywords, t, len)) {
            e->kw = SND_KW_OPT_IN;
        } else if (snd_kw_in_list(s->conf.help_keywords, t, len)) {
            e->kw = SND_KW_HELP;
        }
        /* Twilio's OptOutType already said it (for every channel) */
        if (e->opt_addr != NULL
            || (e->kw != SND_KW_OPT_OUT && e->kw != SND_KW_OPT_IN))
        {
            continue;
        }
        e->opt_addr = e->in_peer;
        e->opt_channel = e->in_channel;
        e->opt_in = e->kw == SND_KW_OPT_IN;
        e->opt_source = strcmp(e->in_channel, "sms") == 0
                        ? "sms_inbound" : "whatsapp_inbound";
        e->opt_reason = "inbound opt-out keyword";
    }
}

/* ---- the rules ----------------------------------------------------------- */

static void
snd_kw_rules_free(snd_kw_rules_t *rs)
{
    size_t i;

    for (i = 0; i < rs->n; i++) {
        free(rs->r[i].keyword);
        free(rs->r[i].channel);
        free(rs->r[i].response);
        pcre2_code_free(rs->r[i].re);
    }
    free(rs->r);
    pcre2_match_data_free(rs->md);
    pcre2_match_context_free(rs->mctx);
    memset(rs, 0, sizeof(*rs));
}

/* the enabled rules, oldest first; -1 if they cannot be read */
static int
snd_kw_rules_load(snd_t *s, snd_kw_rules_t *rs)
{
    snd_buf_t       q = { 0 };
    MYSQL_RES      *res;
    MYSQL_ROW       row;
    snd_kw_rule_t  *k;
    int             err;
    PCRE2_SIZE      off;

    snd_buf_add(&q, "SELECT id,keyword,match_type,IFNULL(channel,''),"
        "response_text FROM keyword_rules WHERE enabled=1 ORDER BY id "
        "LIMIT %d", SND_KW_MAX_RULES);
    res = snd_db_select(s, &q);
    if (res == NULL) {
        return -1;
    }
    rs->r = calloc(mysql_num_rows(res) + 1, sizeof(*rs->r));
    rs->mctx = pcre2_match_context_create(NULL);
    rs->md = pcre2_match_data_create(1, NULL);
    if (rs->r == NULL || rs->mctx == NULL || rs->md == NULL) {
        mysql_free_result(res);
        return -1;
    }
    pcre2_set_match_limit(rs->mctx, SND_KW_MATCH_LIMIT);
    pcre2_set_depth_limit(rs->mctx, SND_KW_DEPTH_LIMIT);
    while ((row = mysql_fetch_row(res)) != NULL) {
        k = &rs->r[rs->n];
        if (row[0] == NULL || row[1] == NULL || row[2] == NULL
            || row[4] == NULL)
        {
            continue;
        }
        snprintf(k->key, sizeof(k->key), "%s", row[0]);
        k->match = row[2][0];
        k->keyword = strdup(row[1]);
        k->channel = strdup(row[3] ? row[3] : "");
        k->response = strdup(row[4]);
        rs->n++;
        if (k->keyword == NULL || k->channel == NULL || k->response == NULL) {
            mysql_free_result(res);
            return -1;
        }
        if (k->match == 'r') {
            /* the API checked it; one that fails now never matches */
            k->re = pcre2_compile((PCRE2_SPTR) k->keyword,
                PCRE2_ZERO_TERMINATED, PCRE2_CASELESS | PCRE2_UTF, &err,
                &off, NULL);
        }
    }
    mysql_free_result(res);
    return 0;
}

/* 1 if needle occurs in hay[0..len), ASCII case-insensitively */
static int
snd_kw_contains(const char *hay, size_t len, const char *needle)
{
    size_t nl = strlen(needle), i;

    if (nl == 0 || nl > len) {
        return 0;
    }
    for (i = 0; i + nl <= len; i++) {
        if (strncasecmp(hay + i, needle, nl) == 0) {
            return 1;
        }
    }
    return 0;
}

static int
snd_kw_rule_match(snd_kw_rules_t *rs, snd_kw_rule_t *k, const snd_ev_t *e,
    const char *t, size_t len)
{
    size_t kl;

    if (k->channel[0] != '\0' && strcmp(k->channel, e->in_channel) != 0) {
        return 0;
    }
    switch (k->match) {
    case 'e':
        kl = strlen(k->keyword);
        return kl == len && strncasecmp(k->keyword, t, len) == 0;
    case 'c':
        return snd_kw_contains(t, len, k->keyword);
    case 'r':
        /* a text that is not UTF-8, or over the limits, does not match */
        return k->re != NULL
               && pcre2_match(k->re, (PCRE2_SPTR) e->in_text,
                              strlen(e->in_text), 0, 0, rs->md, rs->mctx)
                  >= 0;
    }
    return 0;
}

/* ---- the reply ----------------------------------------------------------- */

/* 1 if the address may not get an automatic reply on the channel (or it
   cannot be told now) */
static int
snd_kw_blocked(snd_t *s, const snd_ev_t *e)
{
    snd_buf_t   q = { 0 };
    MYSQL_RES  *res;
    int         blocked;

    snd_buf_add(&q, "SELECT 1 FROM blacklist WHERE address=");
    snd_buf_cstr(s, &q, e->in_peer);
    snd_buf_add(&q, " UNION ALL SELECT 1 FROM opt_outs WHERE address=");
    snd_buf_cstr(s, &q, e->in_peer);
    snd_buf_add(&q, " AND channel IN ('',");
    snd_buf_cstr(s, &q, e->in_channel);
    snd_buf_add(&q, ") LIMIT 1");
    res = snd_db_select(s, &q);
    if (res == NULL) {
        return 1;
    }
    blocked = mysql_num_rows(res) > 0;
    mysql_free_result(res);
    return blocked;
}

/* 1 if this is the first reply of the rule to the address in the window */
static int
snd_kw_first(snd_t *s, const snd_ev_t *e, const char *rule)
{
    char         key[512], mark[480], ttl[24];
    const char  *argv[6];
    redisReply  *r;
    int          first, n;

    n = snprintf(mark, sizeof(mark), "%s:%s:%s", rule, e->in_channel,
                 e->in_peer);
    if (n < 0 || (size_t) n >= sizeof(mark)
        || bc_lane_key(key, sizeof(key), BC_LANE_SEND,
                       bc_lane_of_str(mark, (size_t) n, SND_LANES(s)),
                       BC_SFX_KWREPLY "%s", mark) < 0)
    {
        return 0;
    }
    snprintf(ttl, sizeof(ttl), "%d", s->conf.keyword_reply_window_s);
    argv[0] = "SET"; argv[1] = key; argv[2] = "1"; argv[3] = "NX";
    argv[4] = "EX"; argv[5] = ttl;
    r = snd_redis_argv(s, 6, argv);
    if (r == NULL) {
        return 0;
    }
    first = r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    return first;
}

/* the job of a reply to e: to its sender, from the number it reached */
static int
snd_kw_job(const snd_ev_t *e, const char *text, bc_job_t *job)
{
    int      meta = strcmp(e->provider, "meta") == 0;
    json_t  *x;

    memset(job, 0, sizeof(*job));
    if (bc_ulid(job->id) != 0 || e->in_to == NULL || e->in_to[0] == '\0') {
        return -1;
    }
    memcpy(job->batch_id, job->id, sizeof(job->batch_id));
    snprintf(job->channel, sizeof(job->channel), "%s", e->in_channel);
    snprintf(job->provider, sizeof(job->provider), "%s", e->provider);
    /* docs/DESIGN.md "Addresses": only Twilio's WhatsApp is prefixed */
    snprintf(job->to, sizeof(job->to), "%s%s",
             strcmp(e->in_channel, "whatsapp") == 0 && !meta
             ? BC_WA_PREFIX : "", e->in_peer);
    snprintf(job->from, sizeof(job->from), "%s", e->in_to);
    job->created_ms = snd_now_ms();
    job->body = strdup(text);
    if (job->body == NULL) {
        return -1;
    }
    if (meta) {
        x = json_pack("{s:{s:s,s:{s:s}}}", "message", "type", "text", "text",
                      "body", text);
        job->extra = x ? json_dumps(x, JSON_COMPACT) : NULL;
        json_decref(x);
        if (job->extra == NULL) {
            return -1;
        }
    }
    return 0;
}

/* queues the reply as the module queues a send: the msg key and the stream
   entry in one MULTI in the lane of its id, pipelined (on a Redis Cluster the MULTI goes
   to the node of the keys after it) */
static int
snd_kw_queue(snd_t *s, const snd_ev_t *e, const char *text)
{
    bc_job_t     job;
    char        *dump = NULL, key[64], stream[64];
    const char  *argv[6];
    redisReply  *r;
    int          rc = -1, i, ok = 1;
    unsigned     lane;

    if (snd_kw_job(e, text, &job) != 0
        || (dump = bc_job_dump(&job)) == NULL || s->redis == NULL)
    {
        goto done;
    }
    lane = bc_lane_of_id(job.id, strlen(job.id), SND_LANES(s));
    bc_lane_key(key, sizeof(key), BC_LANE_SEND, lane, BC_SFX_MSG "%s",
                job.id);
    snd_send_stream(stream, lane);
    for (i = 0; i < 4; i++) {
        argv[0] = i == 0 ? "MULTI" : i == 1 ? "SET" : i == 2 ? "XADD"
                                                              : "EXEC";
        if (i == 1) {
            argv[1] = key; argv[2] = dump; argv[3] = "EX";
            argv[4] = BC_MSG_TTL;
        } else if (i == 2) {
            argv[1] = stream; argv[2] = "*"; argv[3] = "job";
            argv[4] = dump;
        }
        bc_rc_append(s->redis, i == 1 || i == 2 ? 5 : 1, argv, NULL);
    }
    for (i = 0; i < 4; i++) {
        if (bc_rc_get_reply(s->redis, &r) != REDIS_OK) {
            snd_redis_lost(s, bc_rc_errstr(s->redis));
            goto done;
        }
        if (r->type == REDIS_REPLY_ERROR
            || (i == 3 && r->type != REDIS_REPLY_ARRAY))
        {
            ok = 0;
        }
        freeReplyObject(r);
    }
    if (!ok) {
        goto done;
    }
    snd_redis_wait(s);
    snd_log(SND_LOG_INFO, "keyword reply %s to %s", job.id, job.to);
    rc = 0;
done:
    free(dump);
    bc_job_free(&job);
    return rc;
}

/* the reply to e, if any: help, else the first matching rule */
static void
snd_kw_reply_one(snd_t *s, snd_ev_t *e, snd_kw_rules_t *rs, int *loaded)
{
    const char     *t, *rule = NULL, *text = NULL;
    size_t          len, j;

    t = snd_kw_trim(e->in_text, &len);
    if (e->kw == SND_KW_HELP) {
        rule = "help";
        text = s->conf.help_text;
    } else {
        if (!*loaded) {
            *loaded = snd_kw_rules_load(s, rs) == 0 ? 1 : -1;
        }
        for (j = 0; *loaded == 1 && j < rs->n; j++) {
            if (snd_kw_rule_match(rs, &rs->r[j], e, t, len)) {
                rule = rs->r[j].key;
                text = rs->r[j].response;
                break;
            }
        }
    }
    if (rule == NULL || text[0] == '\0' || snd_kw_blocked(s, e)
        || !snd_kw_first(s, e, rule))
    {
        return;
    }
    if (snd_kw_queue(s, e, text) != 0) {
        snd_log(SND_LOG_WARN, "keyword reply to %s not queued", e->in_peer);
    }
}

void
snd_kw_reply(snd_t *s, snd_ev_t *ev, size_t n)
{
    size_t          i;
    int             loaded = 0;
    snd_kw_rules_t  rs = { 0 };

    for (i = 0; i < n; i++) {
        /* an opt-out or opt-in message is answered by nobody */
        if (snd_kw_channel(&ev[i]) && ev[i].kw != SND_KW_OPT_OUT
            && ev[i].kw != SND_KW_OPT_IN)
        {
            snd_kw_reply_one(s, &ev[i], &rs, &loaded);
        }
    }
    snd_kw_rules_free(&rs);
}
