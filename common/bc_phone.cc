/*
 * Phone numbers to E.164 with Google's libphonenumber, behind the C API of
 * bc_phone.h. PhoneNumberUtil is a thread-safe singleton; nothing here keeps
 * state of its own, and no C++ exception crosses into C.
 */
#include <cctype>
#include <cstring>
#include <string>

#include <google/protobuf/stubs/common.h>
#include <unicode/uclean.h>
#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>

extern "C" {
#include "bc_phone.h"
}

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

/* libphonenumber's util is a leaky singleton: set once it exists, so
   bc_phone_shutdown() frees it only then */
static bool  bc_phone_util_made;

static PhoneNumberUtil *
bc_phone_util(void)
{
    PhoneNumberUtil  *util = PhoneNumberUtil::GetInstance();

    bc_phone_util_made = true;
    return util;
}


static const char  bc_whatsapp_prefix[] = "whatsapp:";


static const char *
bc_parse_error_reason(PhoneNumberUtil::ErrorType e)
{
    switch (e) {
    case PhoneNumberUtil::INVALID_COUNTRY_CODE_ERROR:
        return "unknown country code: write the number with + and its "
               "country code";
    case PhoneNumberUtil::NOT_A_NUMBER:
        return "not a phone number";
    case PhoneNumberUtil::TOO_SHORT_AFTER_IDD:
        return "number is too short after the international prefix";
    case PhoneNumberUtil::TOO_SHORT_NSN:
        return "number is too short";
    case PhoneNumberUtil::TOO_LONG_NSN:
        return "number is too long";
    default:
        return "not a valid phone number";
    }
}


static const char *
bc_invalid_reason(const PhoneNumberUtil *util, const PhoneNumber &pn)
{
    switch (util->IsPossibleNumberWithReason(pn)) {
    case PhoneNumberUtil::INVALID_COUNTRY_CODE:
        return "unknown country code";
    case PhoneNumberUtil::TOO_SHORT:
        return "number is too short";
    case PhoneNumberUtil::TOO_LONG:
        return "number is too long";
    case PhoneNumberUtil::INVALID_LENGTH:
        return "number has the wrong length for its country";
    default:
        /* well-formed and of a possible length, but outside every range
           its country's numbering plan assigns (+1 999..., +44 7000...) */
        return "not a valid phone number: it has the form of an E.164 "
               "number but is not in its country's numbering plan";
    }
}


static int
bc_phone_normalize_cc(const char *in, size_t len, const char *default_region,
    char out[BC_PHONE_MAX], const char **reason)
{
    const PhoneNumberUtil  *util = bc_phone_util();
    PhoneNumber             pn;
    std::string             number, region, e164;
    size_t                  i, plen;
    bool                    digits;

    plen = sizeof(bc_whatsapp_prefix) - 1;

    if (len >= plen && strncasecmp(in, bc_whatsapp_prefix, plen) == 0) {
        in += plen;
        len -= plen;
    }

    digits = false;
    for (i = 0; i < len; i++) {
        if (in[i] == '\0') {
            *reason = "not a number: contains a NUL byte";
            return -1;
        }

        if (in[i] >= '0' && in[i] <= '9') {
            digits = true;
        }
    }

    if (!digits) {
        *reason = "not a number: no digits";
        return -1;
    }

    /* 250 is libphonenumber's own limit on input length */
    if (len > 250) {
        *reason = "number is too long";
        return -1;
    }

    number.assign(in, len);

    /* "ZZ" (unknown region) makes a leading '+' mandatory */
    region = "ZZ";
    if (default_region != NULL && default_region[0] != '\0') {
        region = default_region;
        for (i = 0; i < region.size(); i++) {
            region[i] = (char) toupper((unsigned char) region[i]);
        }
    }

    PhoneNumberUtil::ErrorType e = util->Parse(number, region, &pn);
    if (e != PhoneNumberUtil::NO_PARSING_ERROR) {
        if (e == PhoneNumberUtil::INVALID_COUNTRY_CODE_ERROR
            && region == "ZZ")
        {
            *reason = "number needs + and its country code";

        } else {
            *reason = bc_parse_error_reason(e);
        }

        return -1;
    }

    if (!util->IsValidNumber(pn)) {
        *reason = bc_invalid_reason(util, pn);
        return -1;
    }

    util->Format(pn, PhoneNumberUtil::E164, &e164);

    if (e164.size() >= BC_PHONE_MAX || e164.size() < 2) {
        *reason = "number is too long";
        return -1;
    }

    memcpy(out, e164.c_str(), e164.size() + 1);

    return 0;
}


extern "C" int
bc_phone_normalize(const char *in, size_t len, const char *default_region,
    char out[BC_PHONE_MAX], const char **reason)
{
    const char  *ignored;

    /* a caller that does not want the reason still gets a safe pointer */
    if (reason == NULL) {
        reason = &ignored;
    }

    *reason = NULL;

    if (in == NULL || len == 0) {
        *reason = "not a number: empty";
        return -1;
    }

    try {
        return bc_phone_normalize_cc(in, len, default_region, out, reason);

    } catch (...) {
        *reason = "number could not be checked (internal error)";
        return -1;
    }
}


extern "C" int
bc_phone_region_valid(const char *region)
{
    std::string  r;
    size_t       i;

    if (region == NULL || strlen(region) != 2) {
        return 0;
    }

    try {
        r = region;
        for (i = 0; i < r.size(); i++) {
            r[i] = (char) toupper((unsigned char) r[i]);
        }

        return bc_phone_util()->GetCountryCodeForRegion(r)
               != 0;

    } catch (...) {
        return 0;
    }
}


extern "C" int
bc_phone_region(const char *e164, char out[3])
{
    const PhoneNumberUtil  *util;
    PhoneNumber             pn;
    std::string             region;

    out[0] = '\0';

    if (e164 == NULL || e164[0] != '+') {
        return -1;
    }

    try {
        util = bc_phone_util();

        if (util->Parse(e164, "ZZ", &pn) != PhoneNumberUtil::NO_PARSING_ERROR)
        {
            return -1;
        }

        util->GetRegionCodeForNumber(pn, &region);

        if (region.size() != 2 || region == "ZZ") {
            return -1;
        }

        memcpy(out, region.c_str(), 3);
        return 0;

    } catch (...) {
        return -1;
    }
}


extern "C" void
bc_phone_shutdown(void)
{
    if (bc_phone_util_made) {
        delete PhoneNumberUtil::GetInstance();
        bc_phone_util_made = false;
    }
    google::protobuf::ShutdownProtobufLibrary();
    u_cleanup();                /* ICU's caches behind its regexps */
}
