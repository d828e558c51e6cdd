-- Headless Neovim driver for tests/editors/test_neovim.py and test_standin.py.
-- Loads the shipped editors/neovim config (lsp/distill.lua from the runtimepath, init.lua),
-- overriding only the server command and the fast settings, then runs the phases in
-- $DISTILL_TEST_PHASES (default all):
--   inline:  ghost text appears at the end of the target line, <Tab> accepts it;
--   actions: the code-action picker lists the titles (a filter that keeps none: no prompt);
--   explain: <leader>ae resolves/executes "Explain this".
-- Each phase records its own error; a JSON report goes to $DISTILL_TEST_RESULT.
local env = vim.env
local t0 = vim.uv.now()
local report = { steps = {}, sent = {}, messages = {}, done = {}, errors = vim.empty_dict() }
local deadline_s = tonumber(env.DISTILL_TEST_TIMEOUT or '120')
local actions_deadline_s = tonumber(env.DISTILL_TEST_ACTIONS_TIMEOUT or '20')
local phases = vim.split(env.DISTILL_TEST_PHASES or 'inline,actions,explain', ',')

vim.opt.rtp:prepend(env.DISTILL_TEST_EDITORS .. '/neovim')
dofile(env.DISTILL_TEST_EDITORS .. '/neovim/init.lua')
local cmd
if env.DISTILL_TEST_TCP_PORT then
  cmd = vim.lsp.rpc.connect('127.0.0.1', tonumber(env.DISTILL_TEST_TCP_PORT))
else
  cmd = vim.json.decode(env.DISTILL_TEST_CMD_JSON)
end
local fast = vim.json.decode(env.DISTILL_TEST_SETTINGS_JSON)
vim.lsp.config('distill', { cmd = cmd, init_options = fast, settings = { distill = fast } })

local function finish()
  report.buffer = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n')
  local f = assert(io.open(env.DISTILL_TEST_RESULT, 'w'))
  f:write(vim.json.encode(report))
  f:close()
  vim.cmd('qall!')
end

local co
local function sleep(ms)
  vim.defer_fn(function() assert(coroutine.resume(co)) end, ms)
  coroutine.yield()
end

--- Poll `check` every 100 ms; call `retry` every 2 s; fail after `limit_s` seconds.
local function wait_for(what, check, retry, limit_s)
  local start = vim.uv.now()
  local last_retry = start
  while true do
    local value = check()
    if value then
      table.insert(report.steps, string.format('%s %.1fs', what, (vim.uv.now() - t0) / 1000))
      return value
    end
    local now = vim.uv.now()
    if now - start > (limit_s or deadline_s) * 1000 then
      error('timed out waiting for ' .. what, 0)
    end
    if retry and now - last_retry > 2000 then
      last_retry = now
      retry()
    end
    sleep(100)
  end
end

local function ghost_text(buf)
  local ns = vim.api.nvim_get_namespaces()['nvim.lsp.inline_completion']
  if not ns then return nil end
  for _, m in ipairs(vim.api.nvim_buf_get_extmarks(buf, ns, 0, -1, { details = true })) do
    local parts = {}
    for _, chunk in ipairs(m[4].virt_text or {}) do table.insert(parts, chunk[1]) end
    for _, line in ipairs(m[4].virt_lines or {}) do
      local l = {}
      for _, chunk in ipairs(line) do table.insert(l, chunk[1]) end
      table.insert(parts, '\n' .. table.concat(l))
    end
    local text = table.concat(parts)
    if text:match('%S') then return text end
  end
end

local buf, client

local function attach()
  buf = vim.api.nvim_get_current_buf()
  vim.bo[buf].filetype = 'python'
  client = wait_for('attach', function()
    return vim.lsp.get_clients({ name = 'distill', bufnr = buf })[1]
  end)
  wait_for('initialized', function() return client.initialized end)
  report.server_name = client.server_info and client.server_info.name
  report.inline_capability = client:supports_method('textDocument/inlineCompletion', buf)
  report.init_options = client.config.init_options
  report.settings = client.config.settings
  local orig_request = client.request
  client.request = function(self, method, params, ...)
    table.insert(report.sent, method .. ((method == 'workspace/executeCommand' and (':' .. params.command)) or ''))
    return orig_request(self, method, params, ...)
  end
  local orig_notify = vim.notify
  vim.notify = function(msg, ...)
    table.insert(report.messages, msg)
    return orig_notify(msg, ...)
  end
end

local phase_fns = {}

function phase_fns.inline()
  -- Cursor at the end of the target line, insert mode; the server answers empty until its
  -- model is ready, so nudge the inline-completion trigger every 2 s.
  local row = tonumber(env.DISTILL_TEST_LINE)
  vim.api.nvim_win_set_cursor(0, { row, 0 })
  vim.cmd('startinsert!')
  -- Nudge only when no inline request is in flight: a new one would supersede it, and on a
  -- busy CPU a generation can take longer than the nudge interval.
  local function in_flight()
    for _, r in pairs(client.requests) do
      if r.method == 'textDocument/inlineCompletion' then return true end
    end
  end
  report.ghost = wait_for('ghost text', function() return ghost_text(buf) end, function()
    if not in_flight() then vim.api.nvim_exec_autocmds('CursorMovedI', { buffer = buf }) end
  end)
  report.mode_before_accept = vim.api.nvim_get_mode().mode
  report.line_before = vim.api.nvim_buf_get_lines(buf, row - 1, row, false)[1]
  -- Accept through the config's <Tab> mapping.
  vim.api.nvim_feedkeys(vim.keycode('<Tab>'), 'm', false)
  wait_for('accepted', function()
    return vim.api.nvim_buf_get_lines(buf, row - 1, row, false)[1] ~= report.line_before
  end)
  report.line_after = vim.api.nvim_buf_get_lines(buf, row - 1, row, false)[1]
  vim.cmd('stopinsert')
  -- Neovim runs the accepted item's command (distill.accepted); the server's counts after it.
  wait_for('accept command', function()
    return vim.tbl_contains(report.sent, 'workspace/executeCommand:distill.accepted')
  end, nil, 10)
  local answered = false
  client:request('workspace/executeCommand', { command = 'distill.status' }, function(err, result)
    report.status_error = err and tostring(err.message or err) or nil
    report.suggestion_counts = result and result.suggestions or nil
    answered = true
  end, buf)
  wait_for('status', function() return answered end, nil, 30)
end

function phase_fns.actions()
  vim.api.nvim_win_set_cursor(0, { 1, 0 })
  local titles = {}
  local seen = #report.messages
  vim.lsp.buf.code_action({
    filter = function(a)
      table.insert(titles, a.title)
      return false
    end,
  })
  -- Done when titles arrive, or when Neovim says there are none / no server supports it.
  local refusal = function()
    for i = seen + 1, #report.messages do
      if tostring(report.messages[i]):lower():find('code.?action') then return report.messages[i] end
    end
  end
  wait_for('code actions', function() return #titles > 0 or refusal() end, nil, actions_deadline_s)
  report.action_titles = titles
  if #titles == 0 then error('no code actions: ' .. tostring(refusal()), 0) end
end

function phase_fns.explain()
  if not report.action_titles or #report.action_titles == 0 then error('skipped: no code actions listed', 0) end
  vim.api.nvim_feedkeys(vim.keycode('<Esc>') .. '\\ae', 'm', false)
  wait_for('explain sent', function()
    for _, m in ipairs(report.sent) do
      if m == 'workspace/executeCommand:distill.explain' or m == 'codeAction/resolve' then return true end
    end
  end, nil, actions_deadline_s)
end

local function main()
  local ok, err = xpcall(attach, debug.traceback)
  if not ok then
    report.errors.attach = tostring(err)
    return
  end
  table.insert(report.done, 'attach')
  for _, phase in ipairs(phases) do
    ok, err = xpcall(phase_fns[phase], debug.traceback)
    if ok then
      table.insert(report.done, phase)
    else
      report.errors[phase] = tostring(err)
    end
  end
end

vim.api.nvim_create_autocmd('VimEnter', {
  once = true,
  callback = function()
    co = coroutine.create(function()
      local ok, err = xpcall(main, debug.traceback)
      if not ok then report.errors.driver = tostring(err) end
      finish()
    end)
    vim.schedule(function() assert(coroutine.resume(co)) end)
  end,
})
