-- Argo CD health of a kubedag Workflow (kubedag.io/v1alpha1): one run of a DAG.
-- Argo CD runs this in gopher-lua (Lua 5.1) with the live object in `obj`; it returns
-- hs.status (Healthy, Progressing, Suspended, Degraded) and hs.message.
--   no status yet                  Progressing  the operator has not started the run
--   Pending, Running               Progressing  status.message, else the progress (3/5)
--     with spec.suspend / Suspended=True    Suspended
--     with Synced=False                     Progressing, the reconcile error as message
--   Succeeded                      Healthy
--   Failed                         Degraded     status.message (the failed task, the
--                                               invalid spec, the deadline ...)
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

local function progress(status)
  local text = ""
  if status.progress ~= nil then
    text = "tasks done: " .. status.progress
  end
  if status.message ~= nil and status.message ~= "" then
    if text ~= "" then
      return status.message .. " (" .. text .. ")"
    end
    return status.message
  end
  return text
end

local status = obj.status
if status == nil or status.phase == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the kubedag operator to start the run"
  return hs
end

if status.phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = progress(status)
  return hs
end

if status.phase == "Failed" then
  hs.status = "Degraded"
  hs.message = progress(status)
  return hs
end

local suspended = condition(status, "Suspended")
if (obj.spec ~= nil and obj.spec.suspend == true) or (suspended ~= nil and suspended.status == "True") then
  hs.status = "Suspended"
  hs.message = progress(status)
  return hs
end

hs.status = "Progressing"
hs.message = progress(status)
local synced = condition(status, "Synced")
if synced ~= nil and synced.status == "False" and synced.message ~= nil then
  hs.message = synced.message
end
return hs
