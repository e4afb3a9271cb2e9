-- Argo CD health of a kubedag CronWorkflow (kubedag.io/v1alpha1): a schedule that
-- creates Workflows. Argo CD runs this in gopher-lua (Lua 5.1) with the live object in
-- `obj`; it returns hs.status and hs.message. Health says whether the schedule works, not
-- how its last run went (each run is a Workflow, with its own health):
--   spec.suspend                   Suspended    no run is created until it is false
--   no Ready condition yet, or one
--   older than the spec            Progressing  the operator has not read this spec yet
--   Ready=False                    Degraded     reason: message (an invalid schedule, a
--                                               missing WorkflowTemplate, a run the API
--                                               server refused)
--   Ready=True                     Healthy      the next run's time, the active runs
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
if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "suspended: no run is created until spec.suspend is false"
  return hs
end

local ready = condition(status, "Ready")
local generation = obj.metadata.generation
if ready == nil or (generation ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "waiting for the kubedag operator to read the schedule"
  return hs
end

if ready.status == "False" then
  hs.status = "Degraded"
  hs.message = tostring(ready.reason) .. ": " .. tostring(ready.message)
  return hs
end

hs.status = "Healthy"
local parts = {}
if status.nextScheduleTime ~= nil then
  table.insert(parts, "next run at " .. status.nextScheduleTime)
end
if status.active ~= nil and #status.active > 0 then
  table.insert(parts, tostring(#status.active) .. " running")
end
if status.lastSuccessfulTime ~= nil then
  table.insert(parts, "last success at " .. status.lastSuccessfulTime)
end
hs.message = table.concat(parts, "; ")
return hs
