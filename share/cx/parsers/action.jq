# cx-parse mapping: an action an integration called -> action.requested.
#
# Input : the inbox body cx-ingest serve stored for POST /actions/<action> (or
#         Make's /make/hooks/<integration_id>/<action>), provider "action":
#         {integration_id, tenant, action, action_id, idempotency_key,
#          requested_at (epoch seconds), input}.
# Output: one item {"type":"action.requested","channel":"action","account":
#         <integration_id>,"tenant":<the integration's>,"dedupe_key":
#         "action:<integration_id>:<idempotency_key>","ts","data"} with data
#         {integration_id, tenant, action, input, idempotency_key, action_id,
#          actor "integration:<id>"}; or {"error","path"}. The correlation id is
#         the delivery's: the one the 202 answered.
# jq 1.6 only (Debian 12). Reasons never quote payload values.

def err($reason; $path): {error: $reason, path: $path};
def need($what; $re):
  if type == "string" and test($re) then . else error({cx: ("missing or invalid " + $what)}) end;

try (
  (.integration_id | need("integration_id"; "^int_[0-9a-f]{16}$")) as $id
  | (.tenant | need("tenant"; "^[A-Za-z0-9_-]{1,64}$")) as $tenant
  | (.action | need("action"; "^[a-z0-9_]{1,64}$")) as $action
  | (.action_id | need("action_id"; "^act_[0-9a-f]{24}$")) as $action_id
  | (.idempotency_key | need("idempotency_key"; ".")) as $key
  | if (.input | type) == "object" then . else error({cx: "input is not an object"}) end
  | {type: "action.requested", channel: "action", account: $id, tenant: $tenant,
     dedupe_key: "action:\($id):\($key)", ts: .requested_at,
     data: {integration_id: $id, tenant: $tenant, action: $action, input: .input,
            idempotency_key: $key, action_id: $action_id,
            actor: "integration:\($id)"}}
) catch (if type == "object" and has("cx") then err(.cx; ".") else err("malformed action"; ".") end)
