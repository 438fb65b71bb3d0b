# The flat card of flat-card.sh, shared with hit-instructions.sh
# (CARD=flat): its recipients' profiles and its template. Sourced after
# common.sh.

# Loads $1 profiles. Recipient k is named "Алёна k", so that the line
# the server draws for them is the line the peers draw on card number k.
# The ids go to recipients.csv in that order, and so the tokens to
# tokens.txt.
load_flat_profiles() {
    local n=$1
    log "loading $n profiles, each its own name, into redis"
    # Byte lengths for RESP: in the C locale awk counts bytes, not letters.
    LC_ALL=C awk -v n="$n" -v csv="$WORK_DIR/recipients.csv" '
        function bulk(s) { return "$" length(s) "\r\n" s "\r\n" }
        BEGIN {
            print "id" > csv
            for (i = 0; i < n; i++) {
                id = sprintf("fc-%07d", i)
                print id > csv
                printf "*4\r\n%s%s%s%s", bulk("HSET"), bulk("ot:r:{" id "}"),
                    bulk("first_name"), bulk("Алёна " i)
            }
        }' | rcli --pipe >"$WORK_DIR/redis-pipe.log" 2>&1 || die "redis-cli --pipe failed (see $WORK_DIR/redis-pipe.log)"
    check_piped_profiles "$n"
}

# Writes the flat card's template to $WORK_DIR/templates/flat.json.
write_flat_template() {
    # The flat card of benches/support/cards.rs (`flat_card`) as a template:
    # the same frames, sizes, weights, color, alignment, line height, line
    # limit and shrink limit (three quarters of the size).
    mkdir -p "$WORK_DIR/templates"
    cat >"$WORK_DIR/templates/flat.json" <<'JSON'
{
  "name": "flat",
  "width": 600, "height": 200,
  "format": "png",
  "access": "token",
  "alt": "Your order is on its way",
  "variants": [
    { "id": "default",
      "layers": [
        { "type": "rect", "x": 0, "y": 0, "width": 600, "height": 200, "fill": "#ffffff" },
        { "type": "text", "x": 24, "y": 30, "width": 552, "height": 70,
          "text": "Your order is on its way",
          "size": 32, "min_size": 24, "weight": "bold", "color": "#1f2937",
          "align": "center", "vertical_align": "bottom", "line_height": 1.25, "max_lines": 2, "wrap": true },
        { "type": "text", "x": 24, "y": 110, "width": 552, "height": 60,
          "text": "Thank you, {{ profile.first_name }}!",
          "size": 22, "min_size": 16.5, "weight": "regular", "color": "#1f2937",
          "align": "center", "vertical_align": "top", "line_height": 1.25, "max_lines": 2, "wrap": true } ] }
  ]
}
JSON
}
