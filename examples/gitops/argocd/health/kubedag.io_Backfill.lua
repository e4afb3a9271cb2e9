-- Argo CD health of a kubedag Backfill (kubedag.io/v1alpha1): runs of a schedule over a
-- past date range. Argo CD runs this in gopher-lua (Lua 5.1) with the live object in
-- `obj`; it returns hs.status and hs.message (status.message: how many runs are running,
-- finished, failed):
--   no phase yet, or a status older than the spec    Progressing
--   Resolved=False, not finished   Degraded     its CronWorkflow or WorkflowTemplate is
--                                               missing, its range or cadence invalid
--   Pending, Running               Progressing
--   Suspended                      Suspended    spec.suspend: no new run starts
--   Cancelled                      Suspended    spec.cancel: stopped on purpose, final;
--                                               not Degraded, which would alert on a
--                                               deliberate act
--   Succeeded                      Healthy      every interval ran and succeeded
--   Failed                         Degraded     every interval ran, some failed
local hs = {}

local function condition(status, kind)
  if status == nil or status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local status = obj.status
local generation = obj.metadata.generation
if status == nil or status.phase == nil or (generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "waiting for the kubedag operator to read the backfill"
  return hs
end

hs.message = status.message or ""
local resolved = condition(status, "Resolved")
local finished = status.phase == "Succeeded" or status.phase == "Failed"
if not finished and resolved ~= nil and resolved.status == "False" then
  hs.status = "Degraded"
  hs.message = tostring(resolved.reason) .. ": " .. tostring(resolved.message)
  return hs
end

if status.phase == "Succeeded" then
  hs.status = "Healthy"
elseif status.phase == "Failed" then
  hs.status = "Degraded"
elseif status.phase == "Suspended" then
  hs.status = "Suspended"
elseif status.phase == "Cancelled" then
  hs.status = "Suspended"
else
  hs.status = "Progressing"
end
return hs
