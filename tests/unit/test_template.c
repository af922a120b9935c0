/*
 * {{name}} placeholders (common/bc_template.c): what is a placeholder and
 * what is text, rendering with missing names kept and reported once, and
 * the recursive rendering of a JSON value's strings.
 */
#include "bc_unit.h"
#include "bc_template.h"


static char *
render(const char *s, json_t *vals, json_t *missing)
{
    char    *out;
    size_t   len;

    assert_int_equal(bc_template_render(s, strlen(s), vals, missing, &out,
                                        &len), 0);
    assert_int_equal(strlen(out), len);
    return out;
}


static void
test_next(void **state)
{
    size_t       start, end, name, nlen;
    const char  *s = "a {{ x }} {{}} {{a b}} {{ y.z_1}}{{";

    (void) state;

    assert_int_equal(bc_template_next(s, strlen(s), 0, &start, &end, &name,
                                      &nlen), 1);
    assert_int_equal(start, 2);
    assert_int_equal(end, 9);
    assert_memory_equal(s + name, "x", nlen);
    /* {{}} and {{a b}} are text; the next one is y.z_1 */
    assert_int_equal(bc_template_next(s, strlen(s), end, &start, &end, &name,
                                      &nlen), 1);
    assert_int_equal(nlen, 5);
    assert_memory_equal(s + name, "y.z_1", 5);
    assert_int_equal(bc_template_next(s, strlen(s), end, &start, &end, &name,
                                      &nlen), 0);
}


static void
test_long_name(void **state)
{
    char     s[BC_TEMPLATE_VAR_MAX + 8];
    size_t   start, end, name, nlen;

    (void) state;

    memset(s, 'a', sizeof(s));
    memcpy(s, "{{", 2);
    memcpy(s + 2 + BC_TEMPLATE_VAR_MAX, "}}", 2);
    assert_int_equal(bc_template_next(s, 4 + BC_TEMPLATE_VAR_MAX, 0, &start,
                                      &end, &name, &nlen), 1);
    assert_int_equal(nlen, BC_TEMPLATE_VAR_MAX);
    memcpy(s + 2 + BC_TEMPLATE_VAR_MAX, "a}}", 3);
    assert_int_equal(bc_template_next(s, 5 + BC_TEMPLATE_VAR_MAX, 0, &start,
                                      &end, &name, &nlen), 0);
}


static void
test_render(void **state)
{
    json_t  *vals, *missing;
    char    *out;

    (void) state;

    vals = json_pack("{s:s, s:s, s:i}", "name", "Ann", "city", "Zürich",
                     "n", 3);
    missing = json_array();

    out = render("Hi {{name}} from {{ city }}!", vals, missing);
    assert_string_equal(out, "Hi Ann from Zürich!");
    assert_int_equal(json_array_size(missing), 0);
    free(out);

    /* a missing name (and a non-string value) stays, reported once */
    out = render("{{gone}} {{gone}} {{n}} {x}", vals, missing);
    assert_string_equal(out, "{{gone}} {{gone}} {{n}} {x}");
    assert_int_equal(json_array_size(missing), 2);
    assert_string_equal(json_string_value(json_array_get(missing, 0)),
                        "gone");
    assert_string_equal(json_string_value(json_array_get(missing, 1)), "n");
    free(out);

    out = render("", vals, NULL);
    assert_string_equal(out, "");
    free(out);

    json_decref(vals);
    json_decref(missing);
}


static void
test_names(void **state)
{
    json_t       *list, *seen;
    const char   *s = "{{b}} {{a}} {{b}}";

    (void) state;

    list = json_array();
    seen = json_object();
    assert_int_equal(bc_template_names(s, strlen(s), list, seen), 0);
    assert_int_equal(bc_template_names("{{a}}{{c}}", 10, list, seen), 0);
    assert_int_equal(json_array_size(list), 3);
    assert_string_equal(json_string_value(json_array_get(list, 0)), "b");
    assert_string_equal(json_string_value(json_array_get(list, 2)), "c");
    json_decref(list);
    json_decref(seen);
}


static void
test_render_json(void **state)
{
    json_t  *vals, *missing, *in, *out;
    char    *text;

    (void) state;

    vals = json_pack("{s:s}", "name", "Ann");
    missing = json_array();
    in = json_loads("{\"template\":{\"name\":\"{{name}}\",\"components\":"
        "[{\"parameters\":[{\"type\":\"text\",\"text\":\"{{name}}!\"},"
        "{\"n\":1,\"b\":true,\"z\":null}]}]},\"{{name}}\":\"{{x}}\"}",
        0, NULL);
    assert_non_null(in);
    out = bc_template_render_json(in, vals, missing);
    assert_non_null(out);
    text = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "{\"template\":{\"components\":[{\"parameters\":"
        "[{\"text\":\"Ann!\",\"type\":\"text\"},{\"b\":true,\"n\":1,"
        "\"z\":null}]}],\"name\":\"Ann\"},\"{{name}}\":\"{{x}}\"}");
    /* member names are not rendered; x is missing */
    assert_int_equal(json_array_size(missing), 1);
    free(text);
    json_decref(in);
    json_decref(out);
    json_decref(vals);
    json_decref(missing);
}


/* content_variables is JSON text: a value with '"' or '\\' is escaped
   inside it, so it still parses; missing names are still reported */
static void
test_render_json_text(void **state)
{
    json_t       *vals, *in, *out, *cv, *missing;
    const char   *text;

    (void) state;
    vals = json_pack("{s:s}", "name", "Ann \"Al\" \\ O'Neil\n");
    missing = json_array();
    in = json_pack("{s:s,s:s}", "content_sid", "HX{{name}}",
                   "content_variables", "{\"1\":\"{{name}}\",\"2\":\"{{x}}\"}");
    out = bc_template_render_json(in, vals, missing);
    assert_non_null(out);
    text = json_string_value(json_object_get(out, "content_variables"));
    assert_non_null(text);
    cv = json_loads(text, 0, NULL);
    assert_non_null(cv);
    assert_string_equal(json_string_value(json_object_get(cv, "1")),
                        "Ann \"Al\" \\ O'Neil\n");
    assert_string_equal(json_string_value(json_object_get(cv, "2")),
                        "{{x}}");
    assert_int_equal(json_array_size(missing), 1);
    /* other strings stay text */
    assert_string_equal(json_string_value(json_object_get(out,
                        "content_sid")), "HXAnn \"Al\" \\ O'Neil\n");
    json_decref(cv);
    json_decref(in);
    json_decref(out);
    json_decref(vals);
    json_decref(missing);
}


BC_UNIT_MAIN(
    cmocka_unit_test(test_next),
    cmocka_unit_test(test_long_name),
    cmocka_unit_test(test_render),
    cmocka_unit_test(test_names),
    cmocka_unit_test(test_render_json),
    cmocka_unit_test(test_render_json_text)
)
