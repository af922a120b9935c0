/*
 * Small utilities of the module: ISO 8601 timestamps, ULIDs and SHA-256 hex
 * digests (loop side), and the API context's error setters (loop and
 * thread).
 */


#include "ngx_http_broadcast_api.h"

#include <stdarg.h>

#include "bc_id.h"
#include "bc_sig.h"

#include <openssl/evp.h>
#include <openssl/rand.h>


void
ngx_http_broadcast_iso_ms(long long ms, char out[32])
{
    time_t     t;
    struct tm  tm;

    t = (time_t) (ms / 1000);
    gmtime_r(&t, &tm);

    if (strftime(out, 24, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        out[0] = '\0';
        return;
    }

    snprintf(out + ngx_strlen(out), 8, ".%03uZ",
             (unsigned) ((unsigned long long) ms % 1000));
}



/*
 * Loop-only helpers (one event loop per worker process, so no locking; never
 * call them from a thread task): what bc_ulid() and bc_sha256_hex() compute,
 * without OpenSSL's per-call setup. The random bits of ULIDs come from a
 * per-process buffer refilled by RAND_bytes() in blocks (it is discarded
 * when the process differs from the one that filled it, so a fork never
 * shares it); SHA-256 uses one fetched EVP_MD and one reused EVP_MD_CTX.
 */

#define NGX_HTTP_BROADCAST_RAND_BLOCK  1000    /* 100 ULIDs */

static u_char      ngx_http_broadcast_rand[NGX_HTTP_BROADCAST_RAND_BLOCK];
static size_t      ngx_http_broadcast_rand_pos = NGX_HTTP_BROADCAST_RAND_BLOCK;
static ngx_pid_t   ngx_http_broadcast_rand_pid = -1;
static EVP_MD     *ngx_http_broadcast_sha256_md;
static EVP_MD_CTX *ngx_http_broadcast_sha256_ctx;


/* bc_ulid(): 48-bit ms timestamp + 80 random bits, Crockford base32 */
int
ngx_http_broadcast_ulid(char *out)
{
    u_char          *rnd;
    struct timespec  ts;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        return -1;
    }

    if (ngx_http_broadcast_rand_pid != ngx_pid
        || ngx_http_broadcast_rand_pos + 10 > NGX_HTTP_BROADCAST_RAND_BLOCK)
    {
        if (RAND_bytes(ngx_http_broadcast_rand, NGX_HTTP_BROADCAST_RAND_BLOCK)
            != 1)
        {
            ngx_http_broadcast_rand_pos = NGX_HTTP_BROADCAST_RAND_BLOCK;
            return -1;
        }

        ngx_http_broadcast_rand_pid = ngx_pid;
        ngx_http_broadcast_rand_pos = 0;
    }

    rnd = ngx_http_broadcast_rand + ngx_http_broadcast_rand_pos;
    ngx_http_broadcast_rand_pos += 10;

    bc_ulid_encode((unsigned long long) ts.tv_sec * 1000
                   + (unsigned long long) ts.tv_nsec / 1000000, rnd, out);

    /* used once: not kept in memory */
    ngx_memzero(rnd, 10);

    return 0;
}


/* bc_sha256_hex(): lower-case hex of SHA-256 */
void
ngx_http_broadcast_sha256_hex(const void *data, size_t len, char out[65])
{
    u_char        md[EVP_MAX_MD_SIZE];
    unsigned int  md_len;

    if (ngx_http_broadcast_sha256_md == NULL) {
        ngx_http_broadcast_sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    }

    if (ngx_http_broadcast_sha256_ctx == NULL) {
        ngx_http_broadcast_sha256_ctx = EVP_MD_CTX_new();
    }

    md_len = 0;

    if (ngx_http_broadcast_sha256_md == NULL
        || ngx_http_broadcast_sha256_ctx == NULL
        || EVP_DigestInit_ex2(ngx_http_broadcast_sha256_ctx,
                              ngx_http_broadcast_sha256_md, NULL) != 1
        || EVP_DigestUpdate(ngx_http_broadcast_sha256_ctx, data, len) != 1
        || EVP_DigestFinal_ex(ngx_http_broadcast_sha256_ctx, md, &md_len)
           != 1
        || md_len != 32)
    {
        bc_sha256_hex(data, len, out);
        return;
    }

    *ngx_hex_dump((u_char *) out, md, 32) = '\0';
}


/* usable in the loop and in a thread: no nginx calls */
void
ngx_http_broadcast_api_error(ngx_http_broadcast_api_ctx_t *ctx,
    ngx_uint_t status, const char *code, const char *fmt, ...)
{
    va_list  args;

    ctx->status = status;
    ctx->code = code;

    va_start(args, fmt);
    vsnprintf(ctx->message, sizeof(ctx->message), fmt, args);
    va_end(args);
}


void
ngx_http_broadcast_api_redis_down(ngx_http_broadcast_api_ctx_t *ctx)
{
    ctx->backend_err |= NGX_HTTP_BROADCAST_ERR_REDIS;

    /* the error log names the reason; callers of redis_integer() have
       none to give (it only says -1) */
    if (ctx->detail[0] == '\0') {
        ngx_cpystrn((u_char *) ctx->detail,
                    (u_char *) "a command failed (link lost or refused)",
                    sizeof(ctx->detail));
    }

    ngx_http_broadcast_api_error(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                 "redis_unavailable",
                                 "the queue (Redis) is unavailable, retry "
                                 "later");
}


void
ngx_http_broadcast_api_mysql_down(ngx_http_broadcast_api_ctx_t *ctx)
{
    ctx->backend_err |= NGX_HTTP_BROADCAST_ERR_MYSQL;
    ngx_http_broadcast_api_error(ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                 "mysql_unavailable",
                                 "the database (MySQL) is unavailable, retry "
                                 "later");
}
