/*
 * The send job JSON: round trip and rejection of bad input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bc_unit.h"
#include "bc_job.h"


static void
fill(bc_job_t *job)
{
    memset(job, 0, sizeof(*job));
    strcpy(job->id, "01JD3ZQ6V0X8E4R2K5M7N9P1QS");
    strcpy(job->batch_id, "01JD3ZQ6V0X8E4R2K5M7N9P1QT");
    strcpy(job->channel, "sms");
    strcpy(job->provider, "twilio");
    strcpy(job->to, "+14155552671");
    strcpy(job->from, "+15005550006");
    job->body = strdup("hello \"world\"\n\xe2\x82\xac");
    job->api_key_id = 3;
    job->created_ms = 1763745600123LL;
    job->attempt = 2;
}


static void
test_round_trip(void **state)
{
    bc_job_t   job, back;
    char      *text;
    char       err[128];

    (void) state;

    fill(&job);

    text = bc_job_dump(&job);
    assert_non_null(text);
    assert_non_null(strstr(text, "\"status\":\"queued\""));
    assert_non_null(strstr(text, "\"created_ms\":1763745600123"));
    assert_non_null(strstr(text, "\"messaging_service_sid\":\"\""));
    assert_null(strchr(text, '\n'));
    /* not a campaign's job: the campaign fields are not written */
    assert_null(strstr(text, "campaign_id"));
    assert_null(strstr(text, "queue_seq"));

    assert_int_equal(bc_job_parse(text, strlen(text), &back, err,
                                  sizeof(err)), 0);
    assert_string_equal(back.id, job.id);
    assert_string_equal(back.batch_id, job.batch_id);
    assert_string_equal(back.channel, "sms");
    assert_string_equal(back.provider, "twilio");
    assert_string_equal(back.to, job.to);
    assert_string_equal(back.from, job.from);
    assert_string_equal(back.messaging_service_sid, "");
    assert_string_equal(back.body, job.body);
    assert_int_equal(back.api_key_id, 3);
    assert_true(back.created_ms == 1763745600123LL);
    assert_int_equal(back.attempt, 2);

    bc_job_free(&back);
    bc_job_free(&job);
    free(text);
}


/* a campaign's job carries its campaign and fencing token, through both
   parsers (the streamed one without extra, the tree with it) */
static void
test_campaign(void **state)
{
    bc_job_t     job, back;
    char        *text;
    const char  *bad;
    char         err[128];
    int          with_extra;

    (void) state;

    for (with_extra = 0; with_extra < 2; with_extra++) {
        fill(&job);
        job.campaign_id = 42;
        job.queue_seq = 3;
        if (with_extra) {
            job.extra = strdup("{\"subject\":\"s\"}");
        }
        text = bc_job_dump(&job);
        assert_non_null(text);
        assert_non_null(strstr(text, "\"campaign_id\":42"));
        assert_non_null(strstr(text, "\"queue_seq\":3"));
        assert_int_equal(bc_job_parse(text, strlen(text), &back, err,
                                      sizeof(err)), 0);
        assert_true(back.campaign_id == 42);
        assert_true(back.queue_seq == 3);
        assert_int_equal(back.attempt, 2);
        bc_job_free(&back);
        bc_job_free(&job);
        free(text);
    }

    bad = "{\"id\":\"a\",\"channel\":\"sms\",\"provider\":\"twilio\","
          "\"to\":\"+1\",\"body\":\"x\",\"campaign_id\":\"7\"}";
    assert_int_not_equal(bc_job_parse(bad, strlen(bad), &back, err,
                                      sizeof(err)), 0);
}


/* the channel's extra object travels through the queue unchanged */
static void
test_extra(void **state)
{
    bc_job_t   job, back;
    char      *text;
    char       err[128];

    (void) state;

    fill(&job);
    strcpy(job.channel, "whatsapp");
    job.extra = strdup("{\"content_sid\":\"HX0123\","
                       "\"media_urls\":[\"https://e.x/a.png\"]}");

    text = bc_job_dump(&job);
    assert_non_null(text);
    assert_int_equal(bc_job_parse(text, strlen(text), &back, err,
                                  sizeof(err)), 0);
    assert_string_equal(back.extra, job.extra);
    bc_job_free(&back);
    free(text);

    /* an extra that is not a JSON object is refused, not queued */
    free(job.extra);
    job.extra = strdup("[1]");
    assert_null(bc_job_dump(&job));

    bc_job_free(&job);
    assert_null(job.extra);

    text = "{\"id\":\"a\",\"channel\":\"sms\",\"provider\":\"twilio\","
           "\"to\":\"+1\",\"body\":\"x\",\"extra\":\"no\"}";
    assert_int_equal(bc_job_parse(text, strlen(text), &back, err,
                                  sizeof(err)), -1);
    assert_null(back.body);
    assert_null(back.extra);
}


/* shapes the streaming pass reads itself, and the same as the tree would */
static void
test_streamed(void **state)
{
    bc_job_t     job;
    char         err[128];
    const char  *text;

    (void) state;

    /* escaped member names, nulls, unknown and nested members */
    text = "{\"\\u0069d\":\"a\",\"batch_id\":null,\"channel\":\"sms\","
           "\"provider\":\"twilio\",\"to\":\"+1\",\"from\":null,"
           "\"status\":\"queued\",\"z\":{\"id\":\"nested\",\"q\":[1,2.5,null]},"
           "\"body\":\"h\\u00e9\\n\",\"api_key_id\":7,\"created_ms\":1763745600123,"
           "\"attempt\":3,\"extra\":null}";
    assert_int_equal(bc_job_parse(text, strlen(text), &job, err,
                                  sizeof(err)), 0);
    assert_string_equal(job.id, "a");
    assert_string_equal(job.batch_id, "");
    assert_string_equal(job.from, "");
    assert_string_equal(job.body, "h\xc3\xa9\n");
    assert_int_equal(job.api_key_id, 7);
    assert_true(job.created_ms == 1763745600123LL);
    assert_int_equal(job.attempt, 3);
    assert_null(job.extra);
    bc_job_free(&job);
}


static void
test_bad(void **state)
{
    bc_job_t     job;
    char         err[128];
    const char  *cases[] = {
        "not json",
        "[]",
        "{\"channel\":\"sms\",\"provider\":\"twilio\",\"to\":\"+1\","
            "\"body\":\"x\"}",
        "{\"id\":1,\"channel\":\"sms\",\"provider\":\"twilio\","
            "\"to\":\"+1\",\"body\":\"x\"}",
        "{\"id\":\"a\",\"channel\":\"sms\",\"provider\":\"twilio\","
            "\"to\":\"+1\"}",
        "{\"id\":\"a\",\"channel\":\"sms\",\"provider\":\"twilio\","
            "\"to\":\"+1\",\"body\":\"x\",\"attempt\":\"1\"}",
        "{\"id\":\"012345678901234567890123456789\",\"channel\":\"sms\","
            "\"provider\":\"twilio\",\"to\":\"+1\",\"body\":\"x\"}",
        /* the streaming pass declines these; the tree parser refuses them */
        "{\"id\":\"a\",\"id\":\"b\",\"channel\":\"sms\",\"provider\":\"t\","
            "\"to\":\"+1\",\"body\":\"x\"}",
        "{\"id\":\"a\",\"channel\":\"sms\",\"provider\":\"t\",\"x\":1,"
            "\"to\":\"+1\",\"body\":\"x\",\"x\":{}}",
        "{\"id\":\"a\",\"channel\":\"sms\",\"provider\":\"t\","
            "\"to\":\"+1\",\"body\":\"x\",\"attempt\":1.0}",
        "{\"id\":\"a\",\"channel\":\"sms\",\"provider\":\"t\","
            "\"to\":\"+1\",\"body\":null}",
        "{\"id\":\"a\",\"channel\":\"sms\",\"provider\":\"t\","
            "\"to\":\"+1\",\"body\":\"x\\u0000y\"}",
        "{\"id\":\"a\",\"channel\":\"sms\",\"provider\":\"t\","
            "\"to\":\"+1\",\"body\":\"x\",\"attempt\":-1}",
        "{\"id\":\"a\",\"channel\":\"sms\",\"provider\":\"t\","
            "\"to\":\"+1\",\"body\":\"x\"} {}",
    };
    size_t       i;

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        assert_int_equal(bc_job_parse(cases[i], strlen(cases[i]), &job, err,
                                      sizeof(err)), -1);
        assert_true(strlen(err) > 0);
        assert_null(job.body);
    }
}


BC_UNIT_MAIN(
    cmocka_unit_test(test_round_trip),
    cmocka_unit_test(test_bad),
    cmocka_unit_test(test_streamed),
    cmocka_unit_test(test_extra),
    cmocka_unit_test(test_campaign)
)
