# bench/peers/parse-peer.jq: the jq peer of cx-parse for bench/parse.sh -- one
# jq process doing, per webhook.received line, what cx-parse does:
#
#   .body | <share/cx/parsers/P.jq> | <tests/fixtures/envelope.jq>
#
# The mapping and the envelope are not copied here (a copy would drift):
# bench/parse.sh puts the two files, unchanged, in front of this one as
# function bodies (jq allows definitions inside a definition, and the
# envelope's $ARGS and $provider become parameters):
#
#   def parse: <share/cx/parsers/P.jq>
#   ;
#   def envelope($ARGS; $provider): <tests/fixtures/envelope.jq>
#   ;
#   <this file>
#
# and runs `jq -c -f that-file < lines`. The envelope takes the line's
# inbox_id, correlation_id and received_at instead of the golden constants;
# error objects of the mapping are dropped by the envelope (cx-parse reports
# them apart from the events).

. as $line
| $line.body
| parse
| envelope({named: {inbox_id: $line.inbox_id, correlation_id: $line.correlation_id,
                    received_at: $line.received_at}};
           $line.provider)
