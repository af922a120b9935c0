# bench/campaign.sh, sourced by bench.sh for the part "campaign": the
# campaign dispatcher and the shared rate limits on a fresh stack.
#
#   fan-out    BENCH_CAMPAIGN (1,000,000) contacts in a group (written in SQL
#              from MariaDB's sequence engine), a template of two variables
#              ({{name}}, {{city}}): seconds from POST …/start until the
#              campaign's fan-out is done (every recipient row written;
#              target <= 30 s) and the sender's peak RSS (VmHWM, target
#              <= 64 MB). The campaign is paced to 1 message/s, so the
#              queue and the sends stay out of the figure. Baseline: one
#              INSERT … SELECT of the same number of rows into a copy of
#              campaign_recipients (the server's own floor).
#   e2e        BENCH_CAMPAIGN_E2E (100,000) of them in a second group: an SMS
#              campaign with no rate limit, POST …/start to the last
#              "delivered" through the simulator (msgs/s; against the
#              part e2e's API-sends rate when both run)
#   rate       two senders, one Meta number limited to BENCH_RATE (80)/s for
#              BENCH_RATE_SECONDS (20; 60 for the full check) with more work
#              queued than that: messages the simulator received in that
#              window against rate x seconds (target within 2%), and the
#              simulator's own limit (the same rate) answering no 429
#
# Sets CAMP_* for the report (bench.sh prints them with the other rows).

CAMP_N=${BENCH_CAMPAIGN:-1000000}
CAMP_E2E_N=${BENCH_CAMPAIGN_E2E:-100000}
CAMP_RATE=${BENCH_RATE:-80}
CAMP_RATE_SECS=${BENCH_RATE_SECONDS:-20}
# BENCH_CAMPAIGN_BATCH: the fan-out sender's campaign_batch (its default)
CAMP_SENDERS=()

camp_now() { date +%s.%N; }
camp_secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# a sender of our own: its name, then sender.conf lines that replace the
# stack's; its pid is appended to CAMP_SENDERS
camp_sender_start() {
    local name=$1 conf=$BC_VAR/sender-$1.conf k
    shift
    local drop='^(consumer'
    for k in "$@"; do drop+="|${k%% *}"; done
    drop+=')[[:space:]]*='
    { grep -Ev "$drop" "$BC_VAR/sender.conf"; echo "consumer = $name"; printf '%s\n' "$@"; } > "$conf"
    chmod 600 "$conf"
    "$BC_BUILD_DIR/bin/broadcast-sender" --config "$conf" < /dev/null >> "$BC_VAR/log/sender-$name.log" 2>&1 &
    CAMP_SENDERS+=($!)
}
camp_senders_stop() {
    local p
    for p in "${CAMP_SENDERS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${CAMP_SENDERS[@]}"; do wait "$p" 2>/dev/null || true; done
    CAMP_SENDERS=()
}

camp_wait_sql() {   # query expected timeout_s: polls every 0.2 s
    local deadline=$(( $(date +%s) + $3 )) v
    while :; do
        v=$(mysql_q "$1" 2>/dev/null || echo)
        [ "$v" = "$2" ] && return 0
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.2
    done
}

camp_create() {   # name template_id group_id rate -> campaign id
    api POST /api/campaigns -H "X-API-Key: $CAMP_KEY" -d "{\"name\":\"$1\",\"channel\":\"sms\",
        \"template_id\":$2,\"audience\":{\"group_ids\":[$3]},\"rate_per_second\":$4}" | json_field id
}

campaign_bench() {
    local t0 t1 gid gid2 tpl tpl2 cid cid2 pid cb0 i body
    BC_BUILD_DIR=${BC_BUILD:-$REPO/build}
    echo "== campaign: $CAMP_N contacts, fan-out, $CAMP_E2E_N end to end, shared Meta rate (fresh stack)"
    # the access log on: few requests here, and stack.sh's "off" currently
    # renders "access_log off broadcast;", which nginx refuses
    fresh_stack stack-campaign.log BC_NGINX_ACCESS_LOG=on
    stack stop sender >/dev/null
    CAMP_KEY=$(api POST /api/keys -H "Authorization: Bearer $TOKEN" \
               -d '{"name":"bench-campaign","scope":"manage"}' | json_field api_key)

    # the audience, in SQL: phones +1 415 5xx xxxx, a city attribute
    mysql_q "INSERT INTO contacts (name, phone, attributes, created_at, updated_at)
             SELECT CONCAT('C', seq), CONCAT('+1415', 5000000 + seq),
                    CONCAT('{\"city\":\"city', seq % 100, '\"}'), NOW(3), NOW(3)
             FROM seq_1_to_$CAMP_N;
             INSERT INTO contact_groups (name, created_at, updated_at)
             VALUES ('everyone', NOW(3), NOW(3)), ('e2e', NOW(3), NOW(3));
             INSERT INTO contact_group_members (group_id, contact_id, created_at)
             SELECT g.id, c.id, NOW(3) FROM contacts c JOIN contact_groups g ON g.name = 'everyone';
             INSERT INTO contact_group_members (group_id, contact_id, created_at)
             SELECT g.id, c.id, NOW(3) FROM contacts c JOIN contact_groups g ON g.name = 'e2e'
             ORDER BY c.id LIMIT $CAMP_E2E_N"
    gid=$(mysql_q "SELECT id FROM contact_groups WHERE name = 'everyone'")
    gid2=$(mysql_q "SELECT id FROM contact_groups WHERE name = 'e2e'")

    # baseline: the server writing as many recipient-shaped rows at once
    mysql_q "CREATE TABLE bench_recipients LIKE campaign_recipients"
    t0=$(camp_now)
    mysql_q "INSERT INTO bench_recipients (campaign_id, contact_id, address, message_id,
                 state, created_at, updated_at)
             SELECT 1, m.contact_id, c.phone, LPAD(m.contact_id, 26, '0'), 'pending', NOW(3), NOW(3)
             FROM contact_group_members m JOIN contacts c ON c.id = m.contact_id
             WHERE m.group_id = $gid"
    t1=$(camp_now)
    CAMP_BASE_SECS=$(camp_secs "$t0" "$t1")
    mysql_q "DROP TABLE bench_recipients"

    tpl=$(api POST /api/templates -H "X-API-Key: $CAMP_KEY" \
          -d '{"channel":"sms","name":"bench","body":"Hi {{name}}, news from {{city}}"}' | json_field id)
    tpl2=$(api POST /api/templates -H "X-API-Key: $CAMP_KEY" \
          -d '{"channel":"sms","name":"bench-e2e","body":"Hello {{name}} in {{city}}"}' | json_field id)

    # ---- fan-out
    camp_sender_start bench-1 ${BENCH_CAMPAIGN_BATCH:+"campaign_batch = $BENCH_CAMPAIGN_BATCH"}
    pid=${CAMP_SENDERS[0]}
    cid=$(camp_create fanout "$tpl" "$gid" 1)
    [ -n "$cid" ] || { echo "bench: the fan-out campaign was not created" >&2; return 1; }
    t0=$(camp_now)
    api POST "/api/campaigns/$cid/start" -H "X-API-Key: $CAMP_KEY" > /dev/null
    camp_wait_sql "SELECT fanout_done FROM campaigns WHERE id = $cid" 1 600 \
        || echo "bench: the fan-out did not finish in 600 s" >&2
    t1=$(camp_now)
    CAMP_FANOUT_SECS=$(camp_secs "$t0" "$t1")
    CAMP_ROWS=$(mysql_q "SELECT COUNT(*) FROM campaign_recipients WHERE campaign_id = $cid")
    CAMP_HWM_MB=$(awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status")
    CAMP_FANOUT_RATE=$(awk -v n="$CAMP_ROWS" -v s="$CAMP_FANOUT_SECS" 'BEGIN { printf "%.0f", (s > 0) ? n / s : 0 }')
    # paused, not cancelled: a cancel gives back ~1,000,000 template_sends
    # rows in one transaction, longer than broadcast_backend_timeout (3 s)
    api POST "/api/campaigns/$cid/pause" -H "X-API-Key: $CAMP_KEY" > /dev/null
    echo "  fan-out: $CAMP_ROWS rows in ${CAMP_FANOUT_SECS}s (baseline ${CAMP_BASE_SECS}s), sender VmHWM ${CAMP_HWM_MB} MB"

    # ---- end to end
    cb0=$(sim_callbacks_sent)
    cid2=$(camp_create e2e "$tpl2" "$gid2" 0)
    [ -n "$cid2" ] || { echo "bench: the e2e campaign was not created" >&2; return 1; }
    t0=$(camp_now)
    api POST "/api/campaigns/$cid2/start" -H "X-API-Key: $CAMP_KEY" > /dev/null
    # cheaply until the simulator has sent every callback, then exactly
    perl "$BENCH/drain-wait.pl" "$SIM_PORT" "$REDIS_PORT" $(( cb0 + 2 * CAMP_E2E_N )) "$E2E_TIMEOUT" \
        || echo "bench: the campaign did not drain in ${E2E_TIMEOUT}s" >&2
    camp_wait_sql "SELECT COUNT(*) >= $CAMP_E2E_N FROM campaign_recipients r
                   JOIN messages m ON m.id = r.message_id
                   WHERE r.campaign_id = $cid2 AND m.status = 'delivered'" 1 60 || true
    t1=$(camp_now)
    CAMP_E2E_SECS=$(camp_secs "$t0" "$t1")
    CAMP_E2E_DONE=$(mysql_q "SELECT COUNT(*) FROM campaign_recipients r JOIN messages m ON m.id = r.message_id
                             WHERE r.campaign_id = $cid2 AND m.status = 'delivered'")
    CAMP_E2E_RATE=$(awk -v n="$CAMP_E2E_DONE" -v s="$CAMP_E2E_SECS" 'BEGIN { printf "%.0f", (s > 0) ? n / s : 0 }')
    camp_senders_stop
    echo "  e2e: $CAMP_E2E_DONE delivered in ${CAMP_E2E_SECS}s"

    # ---- the shared rate: two senders, one Meta number
    curl -sS -X POST "http://127.0.0.1:$SIM_PORT/sim/reset" > /dev/null
    curl -sS -X POST "http://127.0.0.1:$SIM_PORT/sim/config" -H 'Content-Type: application/json' \
        -d "{\"meta_rate\":$CAMP_RATE}" > /dev/null
    CAMP_RATE_JOBS=$(( CAMP_RATE * (CAMP_RATE_SECS + 4) ))
    for (( i = 0; i < CAMP_RATE_JOBS; i += 1000 )); do
        body=$(perl -e 'my ($i, $n, $from) = @ARGV;
            print "{\"from_address\":\"meta:$from\",\"template\":{\"name\":\"hello_world\",\"language\":{\"code\":\"en_US\"}},\"recipients\":["
                . join(",", map { sprintf q{"+1628555%04d"}, $_ } $i .. ($i + 999 < $n - 1 ? $i + 999 : $n - 1)) . "]}"' \
            "$i" "$CAMP_RATE_JOBS" "$META_PHONE_NUMBER_ID")
        api POST /api/send/whatsapp -H "X-API-Key: $KEY" -d "$body" > /dev/null
    done
    camp_sender_start bench-a "meta_rate_per_sender = $CAMP_RATE" "campaigns = off"
    camp_sender_start bench-b "meta_rate_per_sender = $CAMP_RATE" "campaigns = off"
    # until the window (and the start-up second before it) has gone by
    t0=$(date +%s)
    until [ "$(curl -sS "http://127.0.0.1:$SIM_PORT/sim/health" | perl -ne 'print $1 if /"messages":(\d+)/')" \
            -ge $(( CAMP_RATE * (CAMP_RATE_SECS + 2) )) ]; do
        [ $(( $(date +%s) - t0 )) -lt $(( 2 * CAMP_RATE_SECS + 30 )) ] || break
        sleep 0.5
    done
    read -r CAMP_RATE_GOT CAMP_RATE_THROTTLED < <(
        perl -MJSON::PP -MHTTP::Tiny -e '
            my ($url, $secs) = @ARGV;
            my $ua = HTTP::Tiny->new(timeout => 60);
            my $m = decode_json($ua->get("$url/sim/messages")->{content})->{messages};
            my @t = sort { $a <=> $b } map { $_->{created_ms} } grep { ($_->{provider} // "") eq "meta" } @$m;
            my $from = @t ? $t[0] + 1000 : 0;    # past the start-up second
            my $n = grep { $_ >= $from && $_ < $from + 1000 * $secs } @t;
            my $h = decode_json($ua->get("$url/sim/health")->{content});
            print "$n ", $h->{throttled} // 0, "\n";' "http://127.0.0.1:$SIM_PORT" "$CAMP_RATE_SECS")
    camp_senders_stop
    CAMP_RATE_WANT=$(( CAMP_RATE * CAMP_RATE_SECS ))
    CAMP_RATE_DEV=$(awk -v g="$CAMP_RATE_GOT" -v w="$CAMP_RATE_WANT" 'BEGIN { printf "%+.2f", 100 * (g - w) / w }')
}

campaign_report() {
    local ok_fan ok_hwm ok_rate
    ok_fan=$(awk -v v="$CAMP_FANOUT_SECS" 'BEGIN { print (v <= 30) ? "ok" : "MISSED" }')
    ok_hwm=$(awk -v v="$CAMP_HWM_MB" 'BEGIN { print (v <= 64) ? "ok" : "MISSED" }')
    ok_rate=$(awk -v d="$CAMP_RATE_DEV" 'BEGIN { print (d <= 2 && d >= -2) ? "ok" : "MISSED" }')
    row "campaign fan-out ($CAMP_ROWS rows)" "${CAMP_FANOUT_SECS} s" \
        "$(awk -v b="$CAMP_BASE_SECS" -v s="$CAMP_FANOUT_SECS" 'BEGIN { printf "%.2f", (s > 0) ? b / s : 0 }')" "<= 30 s" "$ok_fan"
    row "  = recipient rows/s" "$CAMP_FANOUT_RATE rows/s" - - -
    row "  sender peak RSS (VmHWM)" "${CAMP_HWM_MB} MB" - "<= 64 MB" "$ok_hwm"
    row "campaign e2e ($CAMP_E2E_DONE msgs, ${CAMP_E2E_SECS}s)" "$CAMP_E2E_RATE msg/s" \
        "$(awk -v a="$CAMP_E2E_RATE" -v b="${E2E_RATE:-0}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')" - -
    row "shared Meta rate, 2 senders, ${CAMP_RATE_SECS}s" "$CAMP_RATE_GOT msgs" "${CAMP_RATE_DEV}%" "$CAMP_RATE_WANT ±2%" "$ok_rate"
}

campaign_notes() {
    echo "campaign: fan-out ratio = a plain INSERT ... SELECT of the same rows (${CAMP_BASE_SECS}s) over the fan-out; e2e ratio against the part e2e's API sends when both ran; the shared rate's simulator answered $CAMP_RATE_THROTTLED rate-limit errors at ${CAMP_RATE}/s (should be 0); BENCH_RATE_SECONDS=60 for the full 4,800 check"
}
