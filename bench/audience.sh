# bench/audience.sh, sourced by bench.sh for the part "audience": contacts
# at scale on a fresh stack (the sender stopped: nothing else runs).
#
#   import   BENCH_AUDIENCE rows (1,000,000) of phone,name,email,tags and
#            two attribute columns: POST /api/contacts/import, then
#            GET /api/contacts/imports/{id} polled until done (rows/s, end to
#            end); baseline: LOAD DATA LOCAL INFILE of the same file into a
#            scratch copy of the contacts table (its keys, no tags)
#   export   GET /api/contacts/export of them all (rows/s); baseline: the
#            mariadb client's dump of the same SELECT (tags included)
#   search   GET /api/contacts by name prefix, phone prefix, tag, group and
#            tag + cursor, BENCH_AUDIENCE_SEARCHES (200) each: p50/p99;
#            baseline: the module's statements through DBI
#
# Sets AUD_* for the report (bench.sh prints them with the other rows).

AUD_N=${BENCH_AUDIENCE:-1000000}
AUD_SEARCHES=${BENCH_AUDIENCE_SEARCHES:-200}

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
aud_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
per_sec() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0) ? n / s : 0 }'; }

audience_bench() {
    local csv=$DIR/contacts.csv id status t0 t1 akey sock gid
    echo "== audience: $AUD_N contacts (fresh stack)"
    fresh_stack stack-audience.log
    stack stop sender >/dev/null
    sock=$BC_VAR/mysql/mysql.sock
    akey=$(api POST /api/keys -H "Authorization: Bearer $TOKEN" \
           -d '{"name":"bench-audience","scope":"manage"}' | json_field api_key)
    perl "$BENCH/gen-contacts.pl" "$AUD_N" > "$csv"

    # baseline first, on the same MariaDB, then dropped: the import then
    # meets the same empty buffer pool of contacts
    mysql_q "CREATE TABLE bench_load LIKE contacts"
    t0=$(now)
    mariadb --no-defaults --local-infile=1 -S "$sock" -u "$(id -un)" broadcast -e "
        LOAD DATA LOCAL INFILE '$csv' INTO TABLE bench_load
        FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' IGNORE 1 LINES
        (phone, name, email, @tags, @city, @plan)
        SET attributes = JSON_OBJECT('city', @city, 'plan', @plan),
            created_at = NOW(3), updated_at = NOW(3)"
    t1=$(now)
    AUD_LOAD_SECS=$(secs "$t0" "$t1")
    AUD_LOAD_RATE=$(per_sec "$AUD_N" "$AUD_LOAD_SECS")
    mysql_q "DROP TABLE bench_load"

    t0=$(now)
    id=$(curl -sS -X POST "http://127.0.0.1:$PORT/api/contacts/import" -H "X-API-Key: $akey" \
         -H 'Content-Type: text/csv' --data-binary "@$csv" | json_field import_id)
    [ -n "$id" ] || { echo "bench: the import was not accepted" >&2; return 1; }
    while :; do
        status=$(api GET "/api/contacts/imports/$id" -H "X-API-Key: $akey" | json_field status)
        [ "$status" = running ] || break
        sleep 0.2
    done
    t1=$(now)
    AUD_IMPORT_SECS=$(secs "$t0" "$t1")
    AUD_IMPORTED=$(mysql_q "SELECT created FROM imports WHERE id = $id")
    AUD_IMPORT_RATE=$(per_sec "$AUD_IMPORTED" "$AUD_IMPORT_SECS")
    [ "$status" = done ] || echo "bench: the import ended $status" >&2

    t0=$(now)
    mariadb --no-defaults -S "$sock" -u "$(id -un)" -B -N broadcast -e "
        SET SESSION group_concat_max_len = 65536;
        SELECT c.id, c.name, c.phone, c.whatsapp, c.email,
               (SELECT GROUP_CONCAT(t.tag ORDER BY t.tag SEPARATOR ';')
                FROM contact_tags t WHERE t.contact_id = c.id),
               c.locale, c.timezone, c.attributes FROM contacts c ORDER BY c.id" > /dev/null
    t1=$(now)
    AUD_DUMP_SECS=$(secs "$t0" "$t1")
    AUD_DUMP_RATE=$(per_sec "$AUD_IMPORTED" "$AUD_DUMP_SECS")

    t0=$(now)
    AUD_EXPORTED=$(curl -sS -H "X-API-Key: $akey" "http://127.0.0.1:$PORT/api/contacts/export" \
                   | awk 'END { print NR - 1 }')
    t1=$(now)
    AUD_EXPORT_SECS=$(secs "$t0" "$t1")
    AUD_EXPORT_RATE=$(per_sec "$AUD_EXPORTED" "$AUD_EXPORT_SECS")

    # a group of every tenth contact
    gid=$(api POST /api/groups -H "X-API-Key: $akey" -d '{"name":"bench-tenth"}' | json_field id)
    mysql_q "INSERT INTO contact_group_members (group_id, contact_id, created_at)
             SELECT $gid, id, NOW(3) FROM contacts WHERE id % 10 = 0"
    perl "$BENCH/audience-search.pl" "$PORT" "$akey" "$sock" "$(id -un)" "$gid" \
        "$AUD_SEARCHES" > "$DIR/search.txt"
    AUD_P99_MAX=$(awk '$3 > m { m = $3 } END { printf "%.1f", m }' "$DIR/search.txt")
}

# the report's rows (bench.sh's row and ok)
audience_report() {
    local kind p50 p99 s50 s99
    row "contacts import ($AUD_IMPORTED, ${AUD_IMPORT_SECS}s)" "$AUD_IMPORT_RATE rows/s" \
        "$(aud_ratio "$AUD_IMPORT_RATE" "$AUD_LOAD_RATE")" ">= 100000" "$(ok "$AUD_IMPORT_RATE" 100000)"
    row "  baseline LOAD DATA (${AUD_LOAD_SECS}s)" "$AUD_LOAD_RATE rows/s" 1.00 - -
    row "contacts export ($AUD_EXPORTED, ${AUD_EXPORT_SECS}s)" "$AUD_EXPORT_RATE rows/s" \
        "$(aud_ratio "$AUD_EXPORT_RATE" "$AUD_DUMP_RATE")" ">= 200000" "$(ok "$AUD_EXPORT_RATE" 200000)"
    row "  baseline mariadb dump (${AUD_DUMP_SECS}s)" "$AUD_DUMP_RATE rows/s" 1.00 - -
    while read -r kind p50 p99 s50 s99; do
        row "search $kind p50/p99 (SQL $s50/$s99)" "$p50/$p99 ms" "$(aud_ratio "$p99" "$s99")" \
            "p99 < 50" "$(awk -v v="$p99" 'BEGIN { print (v < 50) ? "ok" : "MISSED" }')"
    done < "$DIR/search.txt"
}
