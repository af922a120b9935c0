/*
 * The /api/ router: one table of routes (method, path, scope, handler)
 * compiled by bc_route, body reading, then one thread task that
 * authenticates the credential and runs the route operation, and one
 * completion that answers from what the thread left in the context.
 */


#include "ngx_http_broadcast_api.h"
#include "ngx_http_broadcast_compat.h"
#include "bc_route.h"


#define ngx_http_broadcast_api_nelem(a)  (sizeof(a) / sizeof((a)[0]))


typedef struct {
    ngx_uint_t                          methods;   /* GET implies HEAD */
    const char                         *pattern;   /* bc_route.h syntax */
    ngx_uint_t                          need;      /* scope for ctx->need */
    ngx_http_broadcast_route_pt         handler;
    ngx_uint_t                          variant;   /* the handler's */
} ngx_http_broadcast_api_route_t;


typedef struct {
    const ngx_http_broadcast_api_route_t  *route;
    ngx_http_broadcast_api_args_t          args;
} ngx_http_broadcast_req_t;


typedef struct {
    ngx_uint_t                          method;
    ngx_str_t                           name;
} ngx_http_broadcast_api_method_t;



static void ngx_http_broadcast_api_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_broadcast_api_start(ngx_http_request_t *r,
    ngx_http_broadcast_req_t *req);
static void ngx_http_broadcast_api_run(void *data,
    ngx_http_broadcast_conn_t *conn);
static ngx_int_t ngx_http_broadcast_api_done(ngx_http_request_t *r,
    void *data);
static void ngx_http_broadcast_api_free(void *data);


/*
 * Every /api/ route: one row each (rows of one path differ by method). The
 * router sets ctx->need from the row, then calls the handler with the {id}
 * segment, if any, and the row's variant.
 */
static const ngx_http_broadcast_api_route_t  ngx_http_broadcast_api_routes[] =
{
    { NGX_HTTP_POST, "/api/login",
      NGX_HTTP_BROADCAST_NEED_NONE, ngx_http_broadcast_login_prepare, 0 },

    { NGX_HTTP_POST, "/api/logout",
      NGX_HTTP_BROADCAST_NEED_SESSION, ngx_http_broadcast_logout_prepare, 0 },

    { NGX_HTTP_GET|NGX_HTTP_POST, "/api/keys",
      NGX_HTTP_BROADCAST_NEED_SESSION, ngx_http_broadcast_keys_prepare, 0 },

    { NGX_HTTP_POST, "/api/keys/{id}/revoke",
      NGX_HTTP_BROADCAST_NEED_SESSION, ngx_http_broadcast_keys_prepare, 0 },

    /* users and roles (users.c), the audit log (audit.c) */
    { NGX_HTTP_GET, "/api/me",
      NGX_HTTP_BROADCAST_NEED_SESSION, ngx_http_broadcast_users_prepare,
      NGX_HTTP_BROADCAST_USERS_ME },

    { NGX_HTTP_POST, "/api/me/password",
      NGX_HTTP_BROADCAST_NEED_SESSION, ngx_http_broadcast_users_prepare,
      NGX_HTTP_BROADCAST_USERS_PASSWORD },

    { NGX_HTTP_GET|NGX_HTTP_POST, "/api/admin/users",
      NGX_HTTP_BROADCAST_NEED_ADMIN, ngx_http_broadcast_users_prepare,
      NGX_HTTP_BROADCAST_USERS_COLLECTION },

    { NGX_HTTP_PATCH|NGX_HTTP_DELETE, "/api/admin/users/{id}",
      NGX_HTTP_BROADCAST_NEED_ADMIN, ngx_http_broadcast_users_prepare,
      NGX_HTTP_BROADCAST_USERS_ONE },

    { NGX_HTTP_POST, "/api/admin/users/{id}/disable",
      NGX_HTTP_BROADCAST_NEED_ADMIN, ngx_http_broadcast_users_prepare,
      NGX_HTTP_BROADCAST_USERS_DISABLE },

    { NGX_HTTP_POST, "/api/admin/users/{id}/enable",
      NGX_HTTP_BROADCAST_NEED_ADMIN, ngx_http_broadcast_users_prepare,
      NGX_HTTP_BROADCAST_USERS_ENABLE },

    { NGX_HTTP_GET, "/api/audit",
      NGX_HTTP_BROADCAST_NEED_ADMIN, ngx_http_broadcast_audit_prepare, 0 },

    { NGX_HTTP_POST, "/api/send/sms",
      NGX_HTTP_BROADCAST_NEED_SEND, ngx_http_broadcast_send_prepare, 0 },

    { NGX_HTTP_POST, "/api/send/whatsapp",
      NGX_HTTP_BROADCAST_NEED_SEND, ngx_http_broadcast_whatsapp_prepare, 0 },

    { NGX_HTTP_POST, "/api/send/email",
      NGX_HTTP_BROADCAST_NEED_SEND, ngx_http_broadcast_email_prepare, 0 },

    { NGX_HTTP_GET, "/api/status/{message_id}",
      NGX_HTTP_BROADCAST_NEED_READ, ngx_http_broadcast_status_prepare,
      NGX_HTTP_BROADCAST_STATUS_ID },

    { NGX_HTTP_GET, "/api/status/twilio/{sid}",
      NGX_HTTP_BROADCAST_NEED_READ, ngx_http_broadcast_status_prepare,
      NGX_HTTP_BROADCAST_STATUS_TWILIO },

    { NGX_HTTP_GET, "/api/batch/{batch_id}",
      NGX_HTTP_BROADCAST_NEED_READ, ngx_http_broadcast_status_prepare,
      NGX_HTTP_BROADCAST_STATUS_BATCH },

    { NGX_HTTP_GET, "/api/email/senders",
      NGX_HTTP_BROADCAST_NEED_READ, ngx_http_broadcast_senders_prepare,
      NGX_HTTP_BROADCAST_SENDERS_EMAIL },

    /* a setting: which addresses may send at all */
    { NGX_HTTP_POST|NGX_HTTP_DELETE, "/api/email/senders",
      NGX_HTTP_BROADCAST_NEED_ADMIN, ngx_http_broadcast_senders_prepare,
      NGX_HTTP_BROADCAST_SENDERS_EMAIL },

    { NGX_HTTP_GET, "/api/whatsapp/senders",
      NGX_HTTP_BROADCAST_NEED_READ, ngx_http_broadcast_senders_prepare,
      NGX_HTTP_BROADCAST_SENDERS_WHATSAPP },

    /* a setting: which addresses may send at all */
    { NGX_HTTP_POST|NGX_HTTP_DELETE, "/api/whatsapp/senders",
      NGX_HTTP_BROADCAST_NEED_ADMIN, ngx_http_broadcast_senders_prepare,
      NGX_HTTP_BROADCAST_SENDERS_WHATSAPP },

    { NGX_HTTP_GET, "/api/whatsapp/templates",
      NGX_HTTP_BROADCAST_NEED_READ, ngx_http_broadcast_templates_prepare, 0 },

    { NGX_HTTP_GET, "/api/chat/users",
      NGX_HTTP_BROADCAST_NEED_READ, ngx_http_broadcast_chat_prepare,
      NGX_HTTP_BROADCAST_CHAT_USERS },

    { NGX_HTTP_GET, "/api/chat/history",
      NGX_HTTP_BROADCAST_NEED_READ, ngx_http_broadcast_chat_prepare,
      NGX_HTTP_BROADCAST_CHAT_HISTORY },

    { NGX_HTTP_POST, "/api/chat/mark-read",
      NGX_HTTP_BROADCAST_NEED_SEND, ngx_http_broadcast_chat_prepare,
      NGX_HTTP_BROADCAST_CHAT_MARK },

    { NGX_HTTP_GET, "/api/messages",
      NGX_HTTP_BROADCAST_NEED_READ, ngx_http_broadcast_chat_prepare,
      NGX_HTTP_BROADCAST_CHAT_MESSAGES },

    { NGX_HTTP_GET, "/api/messages/{message_id}",
      NGX_HTTP_BROADCAST_NEED_READ, ngx_http_broadcast_status_prepare,
      NGX_HTTP_BROADCAST_STATUS_ID },

    /* contact groups: reads need read, writes manage */
    { NGX_HTTP_GET, "/api/groups",
      NGX_HTTP_BROADCAST_NEED_READ, ngx_http_broadcast_groups_prepare,
      NGX_HTTP_BROADCAST_GROUPS_COLLECTION },

    { NGX_HTTP_POST, "/api/groups",
      NGX_HTTP_BROADCAST_NEED_MANAGE, ngx_http_broadcast_groups_prepare,
      NGX_HTTP_BROADCAST_GROUPS_COLLECTION },

    { NGX_HTTP_GET, "/api/groups/{id}",
      NGX_HTTP_BROADCAST_NEED_READ, ngx_http_broadcast_groups_prepare,
      NGX_HTTP_BROADCAST_GROUPS_ONE },

    { NGX_HTTP_PATCH|NGX_HTTP_DELETE, "/api/groups/{id}",
      NGX_HTTP_BROADCAST_NEED_MANAGE, ngx_http_broadcast_groups_prepare,
      NGX_HTTP_BROADCAST_GROUPS_ONE },

    { NGX_HTTP_GET, "/api/groups/{id}/members",
      NGX_HTTP_BROADCAST_NEED_READ, ngx_http_broadcast_groups_prepare,
      NGX_HTTP_BROADCAST_GROUPS_MEMBERS_OF },

    { NGX_HTTP_POST|NGX_HTTP_DELETE, "/api/groups/{id}/members",
      NGX_HTTP_BROADCAST_NEED_MANAGE, ngx_http_broadcast_groups_prepare,
      NGX_HTTP_BROADCAST_GROUPS_MEMBERS_OF },

    /* privacy: erasure of one person's data (an administrator only) */
    { NGX_HTTP_DELETE, "/api/privacy/subjects/{address}",
      NGX_HTTP_BROADCAST_NEED_ADMIN, ngx_http_broadcast_privacy_prepare, 0 },

    /* compliance: the lists the sender's claim consults */
    { NGX_HTTP_GET, "/api/opt-outs",
      NGX_HTTP_BROADCAST_NEED_READ, ngx_http_broadcast_compliance_prepare,
      NGX_HTTP_BROADCAST_COMPLIANCE_OPT_OUTS },

    { NGX_HTTP_POST, "/api/opt-outs",
      NGX_HTTP_BROADCAST_NEED_MANAGE, ngx_http_broadcast_compliance_prepare,
      NGX_HTTP_BROADCAST_COMPLIANCE_OPT_OUTS },

    { NGX_HTTP_DELETE, "/api/opt-outs/{id}",
      NGX_HTTP_BROADCAST_NEED_MANAGE, ngx_http_broadcast_compliance_prepare,
      NGX_HTTP_BROADCAST_COMPLIANCE_OPT_OUTS },

    { NGX_HTTP_GET, "/api/blacklist",
      NGX_HTTP_BROADCAST_NEED_READ, ngx_http_broadcast_compliance_prepare,
      NGX_HTTP_BROADCAST_COMPLIANCE_BLACKLIST },

    { NGX_HTTP_POST, "/api/blacklist",
      NGX_HTTP_BROADCAST_NEED_MANAGE, ngx_http_broadcast_compliance_prepare,
      NGX_HTTP_BROADCAST_COMPLIANCE_BLACKLIST },

    { NGX_HTTP_DELETE, "/api/blacklist/{id}",
      NGX_HTTP_BROADCAST_NEED_MANAGE, ngx_http_broadcast_compliance_prepare,
      NGX_HTTP_BROADCAST_COMPLIANCE_BLACKLIST },

    /* the predecessor's routes, its shapes, on the same tables */
    { NGX_HTTP_GET, "/api/sms/opt-outs",
      NGX_HTTP_BROADCAST_NEED_READ, ngx_http_broadcast_compliance_prepare,
      NGX_HTTP_BROADCAST_COMPLIANCE_SMS_OPT_OUTS },

    { NGX_HTTP_POST, "/api/sms/opt-outs",
      NGX_HTTP_BROADCAST_NEED_MANAGE, ngx_http_broadcast_compliance_prepare,
      NGX_HTTP_BROADCAST_COMPLIANCE_SMS_OPT_OUTS },

    { NGX_HTTP_DELETE, "/api/sms/opt-outs/{id}",
      NGX_HTTP_BROADCAST_NEED_MANAGE, ngx_http_broadcast_compliance_prepare,
      NGX_HTTP_BROADCAST_COMPLIANCE_SMS_OPT_OUTS },

    { NGX_HTTP_GET, "/api/sms/blacklist",
      NGX_HTTP_BROADCAST_NEED_READ, ngx_http_broadcast_compliance_prepare,
      NGX_HTTP_BROADCAST_COMPLIANCE_SMS_BLACKLIST },

    { NGX_HTTP_POST, "/api/sms/blacklist",
      NGX_HTTP_BROADCAST_NEED_MANAGE, ngx_http_broadcast_compliance_prepare,
      NGX_HTTP_BROADCAST_COMPLIANCE_SMS_BLACKLIST },

    { NGX_HTTP_DELETE, "/api/sms/blacklist/{id}",
      NGX_HTTP_BROADCAST_NEED_MANAGE, ngx_http_broadcast_compliance_prepare,
      NGX_HTTP_BROADCAST_COMPLIANCE_SMS_BLACKLIST },

    { NGX_HTTP_POST, "/api/contacts",
      NGX_HTTP_BROADCAST_NEED_MANAGE, ngx_http_broadcast_contacts_prepare,
      NGX_HTTP_BROADCAST_CONTACTS_NEW },

    { NGX_HTTP_GET, "/api/contacts",
      NGX_HTTP_BROADCAST_NEED_READ, ngx_http_broadcast_contacts_list_prepare,
      NGX_HTTP_BROADCAST_CONTACTS_LIST },

    { NGX_HTTP_GET, "/api/contacts/{id}",
      NGX_HTTP_BROADCAST_NEED_READ, ngx_http_broadcast_contacts_prepare,
      NGX_HTTP_BROADCAST_CONTACTS_ONE },

    { NGX_HTTP_PATCH|NGX_HTTP_DELETE, "/api/contacts/{id}",
      NGX_HTTP_BROADCAST_NEED_MANAGE, ngx_http_broadcast_contacts_prepare,
      NGX_HTTP_BROADCAST_CONTACTS_ONE },

    { NGX_HTTP_GET, "/api/contacts/tags",
      NGX_HTTP_BROADCAST_NEED_READ, ngx_http_broadcast_contacts_list_prepare,
      NGX_HTTP_BROADCAST_CONTACTS_TAGS },

    { NGX_HTTP_POST, "/api/contacts/tags/rename",
      NGX_HTTP_BROADCAST_NEED_MANAGE, ngx_http_broadcast_contacts_list_prepare,
      NGX_HTTP_BROADCAST_CONTACTS_TAG_RENAME },

    { NGX_HTTP_DELETE, "/api/contacts/tags/{tag}",
      NGX_HTTP_BROADCAST_NEED_MANAGE, ngx_http_broadcast_contacts_list_prepare,
      NGX_HTTP_BROADCAST_CONTACTS_TAG_DELETE },

    /* reporting: computed in SQL from messages and message_events */
    { NGX_HTTP_GET, "/api/stats",
      NGX_HTTP_BROADCAST_NEED_READ, ngx_http_broadcast_stats_prepare,
      NGX_HTTP_BROADCAST_STATS_MESSAGES },

    { NGX_HTTP_GET, "/api/stats/series",
      NGX_HTTP_BROADCAST_NEED_READ, ngx_http_broadcast_stats_prepare,
      NGX_HTTP_BROADCAST_STATS_SERIES },

    { NGX_HTTP_GET, "/api/webhook-events",
      NGX_HTTP_BROADCAST_NEED_READ, ngx_http_broadcast_stats_prepare,
      NGX_HTTP_BROADCAST_STATS_EVENTS },

    { NGX_HTTP_GET, "/api/sms/stats",
      NGX_HTTP_BROADCAST_NEED_READ, ngx_http_broadcast_stats_prepare,
      NGX_HTTP_BROADCAST_STATS_SMS },

    /* message templates (msgtpl*.c): reads and preview need read */
    { NGX_HTTP_GET, "/api/templates",
      NGX_HTTP_BROADCAST_NEED_READ, ngx_http_broadcast_msgtpl_prepare,
      NGX_HTTP_BROADCAST_MSGTPL_COLLECTION },

    { NGX_HTTP_POST, "/api/templates",
      NGX_HTTP_BROADCAST_NEED_MANAGE, ngx_http_broadcast_msgtpl_prepare,
      NGX_HTTP_BROADCAST_MSGTPL_COLLECTION },

    { NGX_HTTP_GET, "/api/templates/{id}",
      NGX_HTTP_BROADCAST_NEED_READ, ngx_http_broadcast_msgtpl_prepare,
      NGX_HTTP_BROADCAST_MSGTPL_ONE },

    { NGX_HTTP_PATCH|NGX_HTTP_DELETE, "/api/templates/{id}",
      NGX_HTTP_BROADCAST_NEED_MANAGE, ngx_http_broadcast_msgtpl_prepare,
      NGX_HTTP_BROADCAST_MSGTPL_ONE },

    { NGX_HTTP_POST, "/api/templates/{id}/preview",
      NGX_HTTP_BROADCAST_NEED_READ, ngx_http_broadcast_msgtpl_prepare,
      NGX_HTTP_BROADCAST_MSGTPL_PREVIEW_OF },

    /* keyword auto-reply rules, run by the sender's recorder */
    { NGX_HTTP_GET, "/api/keyword-rules",
      NGX_HTTP_BROADCAST_NEED_READ, ngx_http_broadcast_keyword_rules_prepare,
      0 },

    { NGX_HTTP_POST, "/api/keyword-rules",
      NGX_HTTP_BROADCAST_NEED_MANAGE, ngx_http_broadcast_keyword_rules_prepare,
      0 },

    { NGX_HTTP_GET, "/api/keyword-rules/{id}",
      NGX_HTTP_BROADCAST_NEED_READ, ngx_http_broadcast_keyword_rules_prepare,
      0 },

    { NGX_HTTP_PATCH|NGX_HTTP_DELETE, "/api/keyword-rules/{id}",
      NGX_HTTP_BROADCAST_NEED_MANAGE, ngx_http_broadcast_keyword_rules_prepare,
      0 },

    /* the predecessor console's customers, SMS contacts and groups,
       templates and keyword rules, in its shapes (compat*.c) */
    NGX_HTTP_BROADCAST_COMPAT_ROUTE(NGX_HTTP_GET,
        "/api/customers", READ, CUSTOMERS),
    NGX_HTTP_BROADCAST_COMPAT_ROUTE(NGX_HTTP_POST,
        "/api/customers", MANAGE, CUSTOMER_NEW),
    NGX_HTTP_BROADCAST_COMPAT_ROUTE(NGX_HTTP_GET,
        "/api/customers/{id}", READ, CUSTOMER_ONE),
    NGX_HTTP_BROADCAST_COMPAT_ROUTE(NGX_HTTP_PATCH|NGX_HTTP_DELETE,
        "/api/customers/{id}", MANAGE, CUSTOMER_ONE),
    NGX_HTTP_BROADCAST_COMPAT_ROUTE(NGX_HTTP_GET,
        "/api/customers/tags", READ, CUSTOMER_TAGS),
    NGX_HTTP_BROADCAST_COMPAT_ROUTE(NGX_HTTP_POST,
        "/api/customers/tags/rename", MANAGE, TAG_RENAME),
    NGX_HTTP_BROADCAST_COMPAT_ROUTE(NGX_HTTP_DELETE,
        "/api/customers/tags/{tag}", MANAGE, TAG_DELETE),
    NGX_HTTP_BROADCAST_COMPAT_ROUTE(NGX_HTTP_GET,
        "/api/customers/groups", READ, CGROUPS),
    NGX_HTTP_BROADCAST_COMPAT_ROUTE(NGX_HTTP_POST,
        "/api/customers/groups", MANAGE, CGROUPS),
    NGX_HTTP_BROADCAST_COMPAT_ROUTE(NGX_HTTP_GET,
        "/api/customers/groups/{id}", READ, CGROUP_ONE),
    NGX_HTTP_BROADCAST_COMPAT_ROUTE(NGX_HTTP_PATCH|NGX_HTTP_DELETE,
        "/api/customers/groups/{id}", MANAGE, CGROUP_ONE),
    NGX_HTTP_BROADCAST_COMPAT_ROUTE(NGX_HTTP_GET,
        "/api/customers/groups/{id}/members", READ, CGROUP_MEMBERS),
    NGX_HTTP_BROADCAST_COMPAT_ROUTE(NGX_HTTP_POST|NGX_HTTP_DELETE,
        "/api/customers/groups/{id}/members", MANAGE, CGROUP_MEMBERS),
    NGX_HTTP_BROADCAST_COMPAT_ROUTE(NGX_HTTP_GET,
        "/api/sms/contacts", READ, SMS_CONTACTS),
    NGX_HTTP_BROADCAST_COMPAT_ROUTE(NGX_HTTP_POST,
        "/api/sms/contacts", MANAGE, SMS_CONTACT_NEW),
    NGX_HTTP_BROADCAST_COMPAT_ROUTE(NGX_HTTP_GET,
        "/api/sms/groups", READ, SMS_GROUPS),
    NGX_HTTP_BROADCAST_COMPAT_ROUTE(NGX_HTTP_POST,
        "/api/sms/groups", MANAGE, SMS_GROUPS),
    NGX_HTTP_BROADCAST_COMPAT_ROUTE(NGX_HTTP_GET,
        "/api/message-templates", READ, MTPL),
    NGX_HTTP_BROADCAST_COMPAT_ROUTE(NGX_HTTP_POST,
        "/api/message-templates", MANAGE, MTPL),
    NGX_HTTP_BROADCAST_COMPAT_ROUTE(NGX_HTTP_GET,
        "/api/message-templates/{id}", READ, MTPL_ONE),
    NGX_HTTP_BROADCAST_COMPAT_ROUTE(NGX_HTTP_PATCH|NGX_HTTP_DELETE,
        "/api/message-templates/{id}", MANAGE, MTPL_ONE),
    NGX_HTTP_BROADCAST_COMPAT_ROUTE(NGX_HTTP_GET,
        "/api/sms/templates", READ, SMSTPL),
    NGX_HTTP_BROADCAST_COMPAT_ROUTE(NGX_HTTP_POST,
        "/api/sms/templates", MANAGE, SMSTPL),
    NGX_HTTP_BROADCAST_COMPAT_ROUTE(NGX_HTTP_GET,
        "/api/sms/templates/{id}", READ, SMSTPL_ONE),
    NGX_HTTP_BROADCAST_COMPAT_ROUTE(NGX_HTTP_PATCH|NGX_HTTP_DELETE,
        "/api/sms/templates/{id}", MANAGE, SMSTPL_ONE),
    NGX_HTTP_BROADCAST_COMPAT_ROUTE(NGX_HTTP_GET,
        "/api/sms/keyword-rules", READ, RULES),
    NGX_HTTP_BROADCAST_COMPAT_ROUTE(NGX_HTTP_POST,
        "/api/sms/keyword-rules", MANAGE, RULES),
    NGX_HTTP_BROADCAST_COMPAT_ROUTE(NGX_HTTP_GET,
        "/api/sms/keyword-rules/{id}", READ, RULE_ONE),
    NGX_HTTP_BROADCAST_COMPAT_ROUTE(NGX_HTTP_PATCH|NGX_HTTP_DELETE,
        "/api/sms/keyword-rules/{id}", MANAGE, RULE_ONE),
    NGX_HTTP_BROADCAST_COMPAT_ROUTE(NGX_HTTP_GET,
        "/api/sms/keywords", READ, RULES),
    NGX_HTTP_BROADCAST_COMPAT_ROUTE(NGX_HTTP_POST,
        "/api/sms/keywords", MANAGE, RULES),
    NGX_HTTP_BROADCAST_COMPAT_ROUTE(NGX_HTTP_GET,
        "/api/sms/keywords/{id}", READ, RULE_ONE),
    NGX_HTTP_BROADCAST_COMPAT_ROUTE(NGX_HTTP_PATCH|NGX_HTTP_DELETE,
        "/api/sms/keywords/{id}", MANAGE, RULE_ONE),

    /* CSV import of contacts (csv*.c): the body goes to a file */
    { NGX_HTTP_POST, "/api/contacts/import",
      NGX_HTTP_BROADCAST_NEED_MANAGE, ngx_http_broadcast_csv_prepare,
      NGX_HTTP_BROADCAST_CSV_IMPORT },

    { NGX_HTTP_GET, "/api/contacts/imports/{id}",
      NGX_HTTP_BROADCAST_NEED_READ, ngx_http_broadcast_csv_prepare,
      NGX_HTTP_BROADCAST_CSV_IMPORTS },

    { NGX_HTTP_GET, "/api/contacts/export",
      NGX_HTTP_BROADCAST_NEED_READ, ngx_http_broadcast_csv_prepare,
      NGX_HTTP_BROADCAST_CSV_EXPORT },

    /* campaigns (campaigns*.c): writes need send, reads read */
    NGX_HTTP_BROADCAST_CAMPAIGN_ROUTE(NGX_HTTP_GET,
        "/api/campaigns", READ, COLLECTION),
    NGX_HTTP_BROADCAST_CAMPAIGN_ROUTE(NGX_HTTP_POST,
        "/api/campaigns", SEND, COLLECTION),
    NGX_HTTP_BROADCAST_CAMPAIGN_ROUTE(NGX_HTTP_GET,
        "/api/campaigns/{id}", READ, ONE),
    NGX_HTTP_BROADCAST_CAMPAIGN_ROUTE(NGX_HTTP_PATCH|NGX_HTTP_DELETE,
        "/api/campaigns/{id}", SEND, ONE),
    NGX_HTTP_BROADCAST_CAMPAIGN_ROUTE(NGX_HTTP_POST,
        "/api/campaigns/{id}/start", SEND, START),
    NGX_HTTP_BROADCAST_CAMPAIGN_ROUTE(NGX_HTTP_POST,
        "/api/campaigns/{id}/pause", SEND, PAUSE),
    NGX_HTTP_BROADCAST_CAMPAIGN_ROUTE(NGX_HTTP_POST,
        "/api/campaigns/{id}/resume", SEND, RESUME),
    NGX_HTTP_BROADCAST_CAMPAIGN_ROUTE(NGX_HTTP_POST,
        "/api/campaigns/{id}/cancel", SEND, CANCEL),
    NGX_HTTP_BROADCAST_CAMPAIGN_ROUTE(NGX_HTTP_POST,
        "/api/campaigns/{id}/schedule", SEND, SCHEDULE),
    NGX_HTTP_BROADCAST_CAMPAIGN_ROUTE(NGX_HTTP_GET,
        "/api/campaigns/{id}/recipients", READ, RECIPIENTS),
    NGX_HTTP_BROADCAST_CAMPAIGN_ROUTE(NGX_HTTP_POST,
        "/api/campaigns/{id}/retry-failed", SEND, RETRY),
    NGX_HTTP_BROADCAST_CAMPAIGN_ROUTE(NGX_HTTP_POST,
        "/api/campaigns/check-duplicates", READ, DUPLICATES),
    NGX_HTTP_BROADCAST_CAMPAIGN_ROUTE(NGX_HTTP_POST,
        "/api/campaigns/estimate", READ, ESTIMATE),
    NGX_HTTP_BROADCAST_CAMPAIGN_ROUTE(NGX_HTTP_GET,
        "/api/templates/{id}/history", READ, HISTORY),
    /* the predecessor's SMS, e-mail and marketing campaigns on ours
       (compat_campaigns*.c) */
    NGX_HTTP_BROADCAST_COMPAT_CAMP_ROUTE(NGX_HTTP_GET,
        "/api/sms/campaigns", READ, SMS, LIST),
    NGX_HTTP_BROADCAST_COMPAT_CAMP_ROUTE(NGX_HTTP_POST,
        "/api/sms/campaigns", SEND, SMS, LIST),
    NGX_HTTP_BROADCAST_COMPAT_CAMP_ROUTE(NGX_HTTP_GET,
        "/api/sms/campaigns/{id}", READ, SMS, ONE),
    NGX_HTTP_BROADCAST_COMPAT_CAMP_ROUTE(NGX_HTTP_PATCH|NGX_HTTP_DELETE,
        "/api/sms/campaigns/{id}", SEND, SMS, ONE),
    NGX_HTTP_BROADCAST_COMPAT_CAMP_ROUTE(NGX_HTTP_POST,
        "/api/sms/campaigns/{id}/start", SEND, SMS, START),
    NGX_HTTP_BROADCAST_COMPAT_CAMP_ROUTE(NGX_HTTP_POST,
        "/api/sms/campaigns/{id}/pause", SEND, SMS, PAUSE),
    NGX_HTTP_BROADCAST_COMPAT_CAMP_ROUTE(NGX_HTTP_POST,
        "/api/sms/campaigns/{id}/resume", SEND, SMS, RESUME),
    NGX_HTTP_BROADCAST_COMPAT_CAMP_ROUTE(NGX_HTTP_POST,
        "/api/sms/campaigns/{id}/cancel", SEND, SMS, CANCEL),
    NGX_HTTP_BROADCAST_COMPAT_CAMP_ROUTE(NGX_HTTP_POST,
        "/api/sms/campaigns/{id}/schedule", SEND, SMS, SCHEDULE),
    NGX_HTTP_BROADCAST_COMPAT_CAMP_ROUTE(NGX_HTTP_GET,
        "/api/sms/campaigns/{id}/stats", READ, SMS, STATS),
    NGX_HTTP_BROADCAST_COMPAT_CAMP_ROUTE(NGX_HTTP_GET,
        "/api/email/campaigns", READ, EMAIL, LIST),
    NGX_HTTP_BROADCAST_COMPAT_CAMP_ROUTE(NGX_HTTP_POST,
        "/api/email/campaigns", SEND, EMAIL, LIST),
    NGX_HTTP_BROADCAST_COMPAT_CAMP_ROUTE(NGX_HTTP_GET,
        "/api/email/campaigns/{id}", READ, EMAIL, ONE),
    NGX_HTTP_BROADCAST_COMPAT_CAMP_ROUTE(NGX_HTTP_PATCH|NGX_HTTP_DELETE,
        "/api/email/campaigns/{id}", SEND, EMAIL, ONE),
    NGX_HTTP_BROADCAST_COMPAT_CAMP_ROUTE(NGX_HTTP_POST,
        "/api/email/campaigns/{id}/start", SEND, EMAIL, START),
    NGX_HTTP_BROADCAST_COMPAT_CAMP_ROUTE(NGX_HTTP_POST,
        "/api/email/campaigns/{id}/pause", SEND, EMAIL, PAUSE),
    NGX_HTTP_BROADCAST_COMPAT_CAMP_ROUTE(NGX_HTTP_POST,
        "/api/email/campaigns/{id}/resume", SEND, EMAIL, RESUME),
    NGX_HTTP_BROADCAST_COMPAT_CAMP_ROUTE(NGX_HTTP_POST,
        "/api/email/campaigns/{id}/cancel", SEND, EMAIL, CANCEL),
    NGX_HTTP_BROADCAST_COMPAT_CAMP_ROUTE(NGX_HTTP_POST,
        "/api/email/campaigns/{id}/schedule", SEND, EMAIL, SCHEDULE),
    NGX_HTTP_BROADCAST_COMPAT_CAMP_ROUTE(NGX_HTTP_GET,
        "/api/email/campaigns/{id}/stats", READ, EMAIL, STATS),
    NGX_HTTP_BROADCAST_COMPAT_CAMP_ROUTE(NGX_HTTP_GET,
        "/api/email/campaigns/{id}/flow", READ, EMAIL, FLOW),
    NGX_HTTP_BROADCAST_COMPAT_CAMP_ROUTE(NGX_HTTP_GET,
        "/api/marketing/campaigns", READ, MKT, LIST),
    NGX_HTTP_BROADCAST_COMPAT_CAMP_ROUTE(NGX_HTTP_POST,
        "/api/marketing/campaigns", MANAGE, MKT, LIST),
    NGX_HTTP_BROADCAST_COMPAT_CAMP_ROUTE(NGX_HTTP_GET,
        "/api/marketing/campaigns/{id}", READ, MKT, ONE),
    NGX_HTTP_BROADCAST_COMPAT_CAMP_ROUTE(NGX_HTTP_PATCH|NGX_HTTP_DELETE,
        "/api/marketing/campaigns/{id}", MANAGE, MKT, ONE),
    NGX_HTTP_BROADCAST_COMPAT_CAMP_ROUTE(NGX_HTTP_POST,
        "/api/marketing/campaigns/{id}/start", MANAGE, MKT, START),
    NGX_HTTP_BROADCAST_COMPAT_CAMP_ROUTE(NGX_HTTP_POST,
        "/api/marketing/campaigns/{id}/stop", MANAGE, MKT, STOP),
    NGX_HTTP_BROADCAST_COMPAT_CAMP_ROUTE(NGX_HTTP_GET,
        "/api/marketing/campaigns/{id}/steps", READ, MKT, STEPS),
    NGX_HTTP_BROADCAST_COMPAT_CAMP_ROUTE(NGX_HTTP_POST,
        "/api/marketing/campaigns/{id}/steps", MANAGE, MKT, STEPS),
    NGX_HTTP_BROADCAST_COMPAT_CAMP_ROUTE(NGX_HTTP_POST,
        "/api/marketing/campaigns/{id}/steps/batch", MANAGE, MKT, STEPS_BATCH),
    NGX_HTTP_BROADCAST_COMPAT_CAMP_ROUTE(NGX_HTTP_GET,
        "/api/marketing/campaigns/{id}/executions", READ, MKT, EXECUTIONS),
    NGX_HTTP_BROADCAST_COMPAT_CAMP_ROUTE(NGX_HTTP_POST,
        "/api/marketing/campaigns/{id}/executions", MANAGE, MKT, EXECUTIONS),
    NGX_HTTP_BROADCAST_COMPAT_CAMP_ROUTE(NGX_HTTP_GET,
        "/api/marketing/campaigns/{id}/customers/progress", READ, MKT, PROGRESS),
    NGX_HTTP_BROADCAST_COMPAT_CAMP_ROUTE(NGX_HTTP_POST,
        "/api/marketing/campaigns/{id}/customers/{cid}/pause", MANAGE, MKT, CUSTOMER),
    NGX_HTTP_BROADCAST_COMPAT_CAMP_ROUTE(NGX_HTTP_POST,
        "/api/marketing/campaigns/{id}/customers/{cid}/resume", MANAGE, MKT, CUSTOMER),
    /* the predecessor's SMS contacts file: the same import and export */
    { NGX_HTTP_POST, "/api/sms/contacts/import",
      NGX_HTTP_BROADCAST_NEED_MANAGE, ngx_http_broadcast_csv_prepare,
      NGX_HTTP_BROADCAST_CSV_SMS_IMPORT },

    { NGX_HTTP_GET, "/api/sms/contacts/export",
      NGX_HTTP_BROADCAST_NEED_READ, ngx_http_broadcast_csv_prepare,
      NGX_HTTP_BROADCAST_CSV_SMS_EXPORT },
};


/* the methods an Allow header names, in its order; the longest header */
#define NGX_HTTP_BROADCAST_API_ALLOW_LEN                                     \
    sizeof("GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")

static const ngx_http_broadcast_api_method_t
    ngx_http_broadcast_api_methods[] =
{
    { NGX_HTTP_GET, ngx_string("GET") },
    { NGX_HTTP_HEAD, ngx_string("HEAD") },
    { NGX_HTTP_POST, ngx_string("POST") },
    { NGX_HTTP_PUT, ngx_string("PUT") },
    { NGX_HTTP_PATCH, ngx_string("PATCH") },
    { NGX_HTTP_DELETE, ngx_string("DELETE") },
    { NGX_HTTP_OPTIONS, ngx_string("OPTIONS") },
};


/* compiled on the first API request of the worker, kept for its life */
static bc_router_t  *ngx_http_broadcast_api_router;


static bc_router_t *
ngx_http_broadcast_api_router_get(ngx_log_t *log)
{
    char         err[256];
    ngx_uint_t   i;
    bc_route_t   rows[ngx_http_broadcast_api_nelem(
                          ngx_http_broadcast_api_routes)];

    if (ngx_http_broadcast_api_router) {
        return ngx_http_broadcast_api_router;
    }

    for (i = 0; i < ngx_http_broadcast_api_nelem(rows); i++) {
        rows[i].methods = ngx_http_broadcast_api_routes[i].methods;
        rows[i].pattern = ngx_http_broadcast_api_routes[i].pattern;
        rows[i].data = &ngx_http_broadcast_api_routes[i];
    }

    ngx_http_broadcast_api_router = bc_router_new(rows,
                                        ngx_http_broadcast_api_nelem(rows),
                                        NGX_HTTP_GET, NGX_HTTP_HEAD,
                                        err, sizeof(err));

    if (ngx_http_broadcast_api_router == NULL) {
        ngx_log_error(NGX_LOG_ALERT, log, 0, "broadcast: API routes: %s",
                      err);
    }

    return ngx_http_broadcast_api_router;
}


/* 405 with the path's methods in the Allow header */
static ngx_int_t
ngx_http_broadcast_api_405(ngx_http_request_t *r, ngx_uint_t allowed)
{
    u_char      *allow, *p;
    ngx_uint_t   i;

    /* room for every method of the table, each with its ", " */
    allow = ngx_pnalloc(r->pool, NGX_HTTP_BROADCAST_API_ALLOW_LEN);
    if (allow == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = allow;

    for (i = 0; i < ngx_http_broadcast_api_nelem(
                        ngx_http_broadcast_api_methods); i++)
    {
        if (!(allowed & ngx_http_broadcast_api_methods[i].method)) {
            continue;
        }

        if (p != allow) {
            *p++ = ',';
            *p++ = ' ';
        }

        p = ngx_copy(p, ngx_http_broadcast_api_methods[i].name.data,
                     ngx_http_broadcast_api_methods[i].name.len);
    }

    *p = '\0';

    return ngx_http_broadcast_send_405(r, (char *) allow);
}


ngx_int_t
ngx_http_broadcast_api_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    bc_router_t               *router;
    bc_route_match_t           match;
    bc_route_result_t          found;
    ngx_http_broadcast_req_t  *req;

    router = ngx_http_broadcast_api_router_get(r->connection->log);
    if (router == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    found = bc_router_find(router, (unsigned) r->method,
                           (const char *) r->uri.data, r->uri.len, &match);

    if (found == BC_ROUTE_NO_METHOD) {
        /* drops the body itself */
        return ngx_http_broadcast_api_405(r, match.allowed);
    }

    if (found == BC_ROUTE_NO_PATH) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_broadcast_send_error(r, NGX_HTTP_NOT_FOUND,
                                             "not_found",
                                             "no such API endpoint");
    }

    req = ngx_pcalloc(r->pool, sizeof(ngx_http_broadcast_req_t));
    if (req == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    req->route = match.route->data;
    req->args.variant = req->route->variant;

    if (match.nparams) {
        req->args.id.data = (u_char *) match.params[0].data;
        req->args.id.len = match.params[0].len;
    }

    ngx_http_set_ctx(r, req, ngx_http_broadcast_module);

    if (!(r->method & (NGX_HTTP_POST|NGX_HTTP_PATCH|NGX_HTTP_DELETE))) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_broadcast_api_start(r, req);
    }

    /* a CSV import has its own limit and its body goes to a file */
    if (req->route->handler == ngx_http_broadcast_csv_prepare) {
        rc = ngx_http_broadcast_csv_body(r);

    } else {
        rc = ngx_http_broadcast_body_check(r);
    }

    if (rc != NGX_DECLINED) {
        return rc;
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_broadcast_api_body);
    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_broadcast_api_body(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_http_broadcast_req_t  *req;

    req = ngx_http_get_module_ctx(r, ngx_http_broadcast_module);

    rc = ngx_http_broadcast_api_start(r, req);

    /* balances the count++ of ngx_http_read_client_request_body() */
    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_http_broadcast_api_start(ngx_http_request_t *r,
    ngx_http_broadcast_req_t *req)
{
    u_char                          msg[64];
    ngx_int_t                       rc;
    ngx_http_broadcast_api_ctx_t   *ctx;
    ngx_http_broadcast_task_conf_t  tc;
    ngx_http_broadcast_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_broadcast_module);

    /* a body kept in a file is the route's to read, not gathered here */
    rc = r->request_body_in_file_only
         ? NGX_OK : ngx_http_broadcast_body_get(r, &req->args.body);

    if (rc == NGX_DECLINED) {
        ngx_snprintf(msg, sizeof(msg), "the body is too large: more than %uz bytes%Z",
                     lcf->max_body);
        return ngx_http_broadcast_send_error(r,
                   NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "body_too_large",
                   (char *) msg);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = ngx_calloc(sizeof(ngx_http_broadcast_api_ctx_t),
                     r->connection->log);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->mcf = ngx_http_get_module_main_conf(r, ngx_http_broadcast_module);
    ctx->status = NGX_HTTP_OK;

    ctx->need = req->route->need;
    ngx_http_broadcast_audit_begin(r, ctx, req->route->pattern,
                                   req->route->need, &req->args.id);
    req->route->handler(r, ctx, &req->args);

    /* no credential at all: no need to ask the backends */
    if (ctx->need != NGX_HTTP_BROADCAST_NEED_NONE
        && ngx_http_broadcast_auth_credential(r, ctx) != NGX_OK)
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_UNAUTHORIZED,
            "unauthorized", "missing or malformed credentials: send an API "
            "key in X-API-Key or Authorization: Bearer, or a session");
        ctx->need = NGX_HTTP_BROADCAST_NEED_NONE;

    } else if (ctx->need != NGX_HTTP_BROADCAST_NEED_NONE
               && ctx->csrf_failed)
    {
        ngx_http_broadcast_api_error(ctx, NGX_HTTP_FORBIDDEN, "csrf_failed",
            "a write with the session cookie needs the X-CSRF-Token header: "
            "send the csrf_token of GET /api/me or of the login");
        ctx->need = NGX_HTTP_BROADCAST_NEED_NONE;
    }

    if (ctx->code != NULL && ctx->need == NGX_HTTP_BROADCAST_NEED_NONE) {
        rc = ngx_http_broadcast_api_done(r, ctx);
        ngx_http_broadcast_api_free(ctx);
        return rc;
    }

    tc.run = ngx_http_broadcast_api_run;
    tc.done = ngx_http_broadcast_api_done;
    tc.timeout = NULL;
    tc.free = ngx_http_broadcast_api_free;
    tc.data = ctx;

    /* the common send: one script on the worker's async Redis link */
    if (ctx->op_fast && ctx->code == NULL
        && ctx->need != NGX_HTTP_BROADCAST_NEED_NONE)
    {
        rc = ngx_http_broadcast_send_loop(r, ctx, &tc);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    return ngx_http_broadcast_task_post(r, &tc);
}


static void
ngx_http_broadcast_api_run(void *data, ngx_http_broadcast_conn_t *conn)
{
    ngx_http_broadcast_api_ctx_t *ctx = data;

    /*
     * fast path: the operation re-checks the credential cache entry inside
     * Redis (one script, one round trip); anything unusual (no hint, cache
     * miss, changed entry, scope, expiry, no link) falls back to the full
     * path below, which gives the exact answer
     */
    if (ctx->op_fast && ctx->code == NULL
        && ctx->need != NGX_HTTP_BROADCAST_NEED_NONE
        && ngx_http_broadcast_auth_hint(ctx)
        && ctx->op_fast(ctx, conn))
    {
        goto done;
    }

    if (ctx->need != NGX_HTTP_BROADCAST_NEED_NONE) {
        if (!ngx_http_broadcast_auth_resolve(ctx, conn)) {
            goto done;
        }

        ngx_http_broadcast_auth_remember(ctx);
    }

    /* a validation error found in the loop is reported after auth */
    if (ctx->code == NULL && ctx->op) {
        ctx->op(ctx, conn);
    }

done:

    ctx->ran = 1;
}


static ngx_int_t
ngx_http_broadcast_api_done(ngx_http_request_t *r, void *data)
{
    ngx_http_broadcast_api_ctx_t *ctx = data;

    u_char  *p;
    json_t  *json, *err;

    /* the answer is built from ctx: its outcome is final (async path) */
    ctx->ran = 1;

    if (ctx->retry_after > 0) {
        p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
        if (p == NULL
            || ngx_http_broadcast_add_header(r, "Retry-After", p,
                   ngx_sprintf(p, "%L", ctx->retry_after) - p)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ctx->backend_err & NGX_HTTP_BROADCAST_ERR_REDIS) {
        ngx_http_broadcast_metric_add(NGX_HTTP_BROADCAST_M_ERR_REDIS, 1);
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "broadcast: Redis: %s", ctx->detail);
    }

    if (ctx->backend_err & NGX_HTTP_BROADCAST_ERR_MYSQL) {
        ngx_http_broadcast_metric_add(NGX_HTTP_BROADCAST_M_ERR_MYSQL, 1);
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "broadcast: MySQL: %s", ctx->detail);
    }

    if (ctx->accepted) {
        ngx_http_broadcast_metric_add(NGX_HTTP_BROADCAST_M_SENDS_SMS
                                      + ctx->channel_index, ctx->accepted);
    }

    if (ctx->rejected) {
        ngx_http_broadcast_metric_add(NGX_HTTP_BROADCAST_M_REJECTED_SMS
                                      + ctx->channel_index, ctx->rejected);
    }

    if (ctx->set_cookie) {
        if (ngx_http_broadcast_add_header(r, "Set-Cookie",
                (u_char *) ngx_pstrdup(r->pool, &(ngx_str_t) {
                    ngx_strlen(ctx->set_cookie), (u_char *) ctx->set_cookie }),
                ngx_strlen(ctx->set_cookie))
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ctx->code) {
        if (ctx->status == NGX_HTTP_UNAUTHORIZED
            || ctx->status == NGX_HTTP_FORBIDDEN)
        {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "broadcast: %s: %s", ctx->code, ctx->message);
        }

        json = ngx_http_broadcast_json_pool(r,
                   json_pack("{s:{s:s,s:s}}", "error", "code", ctx->code,
                             "message", ctx->message));
        if (json == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ctx->error_extra) {
            err = json_object_get(json, "error");
            json_object_update(err, ctx->error_extra);
        }

        return ngx_http_broadcast_send_json(r, ctx->status, json);
    }

    /* the loop's hints for the async fast path (checked in Redis anyway) */
    if (ctx->need != NGX_HTTP_BROADCAST_NEED_NONE && ctx->cred_id != 0) {
        ngx_http_broadcast_auth_remember(ctx);
    }

    if (ctx->answer) {
        return ctx->answer(r, ctx);
    }

    if (ctx->result == NULL && ctx->result_text == NULL) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "broadcast: API task left no result");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->replayed
        && ngx_http_broadcast_add_header(r, "Idempotent-Replayed",
                                         (u_char *) "true", 4)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ctx->result_text) {
        return ngx_http_broadcast_send_json_text(r, ctx->status,
                                                 ctx->result_text,
                                                 ctx->result_len);
    }

    return ngx_http_broadcast_send_json(r, ctx->status, ctx->result);
}


/* loop: answers from ctx (the async fast path) */
ngx_int_t
ngx_http_broadcast_api_answer(ngx_http_request_t *r,
    ngx_http_broadcast_api_ctx_t *ctx)
{
    return ngx_http_broadcast_api_done(r, ctx);
}


static void
ngx_http_broadcast_api_free(void *data)
{
    ngx_http_broadcast_api_ctx_t *ctx = data;

    /* here: after the answer, and after a late result too */
    ngx_http_broadcast_audit_record(ctx);

    if (ctx->op_free && ctx->op_data) {
        ctx->op_free(ctx->op_data);
    }

    if (ctx->result) {
        json_decref(ctx->result);
    }

    free(ctx->fast_text);
    free(ctx->result_text);

    if (ctx->error_extra) {
        json_decref(ctx->error_extra);
    }

    free(ctx->set_cookie);
    free(ctx->audit);
    ngx_free(ctx);
}
