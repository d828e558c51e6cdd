-- Headless Neovim driver for tests/editors/test_neovim.py.
-- Loads the shipped editors/neovim config, points it at the server under test, then:
-- inline completion ghost text -> accept with <Tab> -> code-action titles -> <leader>ae.
-- Writes a JSON report to $DISTILL_TEST_RESULT and quits; the Python test asserts on it.
local env = vim.env
local report = { steps = {}, sent = {}, messages = {} }
local deadline_s = tonumber(env.DISTILL_TEST_TIMEOUT or '120')

vim.opt.rtp:prepend(env.DISTILL_TEST_EDITORS .. '/neovim')
dofile(env.DISTILL_TEST_EDITORS .. '/neovim/init.lua')
local cmd
if env.DISTILL_TEST_TCP_PORT then
  cmd = vim.lsp.rpc.connect('127.0.0.1', tonumber(env.DISTILL_TEST_TCP_PORT))
else
  cmd = vim.json.decode(env.DISTILL_TEST_CMD_JSON)
end
vim.lsp.config('distill', { cmd = cmd, root_markers = { '.git', 'pyproject.toml' } })

local function finish(err)
  report.error = err
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

--- Poll `check` every 100 ms; call `retry` every 2 s; fail after the deadline.
local function wait_for(what, check, retry)
  local start = vim.uv.now()
  local last_retry = start
  while true do
    local value = check()
    if value then
      table.insert(report.steps, what)
      return value
    end
    local now = vim.uv.now()
    if now - start > deadline_s * 1000 then
      error('timed out waiting for ' .. what, 0)
    end
    if retry and now - last_retry > 2000 then
      last_retry = now
      retry()
    end
    sleep(100)
  end
end

local ns = vim.api.nvim_get_namespaces()['nvim.lsp.inline_completion']

local function ghost_text(buf)
  ns = ns or vim.api.nvim_get_namespaces()['nvim.lsp.inline_completion']
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

local function main()
  local buf = vim.api.nvim_get_current_buf()
  vim.bo[buf].filetype = 'python'
  local client = wait_for('attach', function()
    return vim.lsp.get_clients({ name = 'distill', bufnr = buf })[1]
  end)
  wait_for('initialized', function() return client.initialized end)
  report.server_name = client.server_info and client.server_info.name
  report.inline_capability = client:supports_method('textDocument/inlineCompletion', buf)
  report.init_options = client.config.init_options
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

  -- Inline completion: cursor at the end of the target line, insert mode, wait for ghost text.
  local row = tonumber(env.DISTILL_TEST_LINE)
  vim.api.nvim_win_set_cursor(0, { row, 0 })
  vim.cmd('startinsert!')
  local ghost = wait_for('ghost text', function() return ghost_text(buf) end, function()
    vim.api.nvim_exec_autocmds('CursorMovedI', { buffer = buf })
  end)
  report.ghost = ghost
  report.mode_before_accept = vim.api.nvim_get_mode().mode
  report.line_before = vim.api.nvim_buf_get_lines(buf, row - 1, row, false)[1]

  -- Accept through the config's <Tab> mapping.
  vim.api.nvim_feedkeys(vim.keycode('<Tab>'), 'm', false)
  wait_for('accepted', function()
    return vim.api.nvim_buf_get_lines(buf, row - 1, row, false)[1] ~= report.line_before
  end)
  report.line_after = vim.api.nvim_buf_get_lines(buf, row - 1, row, false)[1]
  vim.cmd('stopinsert')
  sleep(50)

  -- Code actions: collect the titles the editor would list (a filter that keeps none: no prompt).
  vim.api.nvim_win_set_cursor(0, { 1, 0 })
  local titles = {}
  vim.lsp.buf.code_action({
    filter = function(a)
      table.insert(titles, a.title)
      return false
    end,
  })
  wait_for('code actions', function() return #titles > 0 end)
  report.action_titles = titles

  -- Apply "Explain this" through the <leader>ae keymap.
  vim.api.nvim_feedkeys(vim.keycode('<Esc>') .. '\\ae', 'm', false)
  wait_for('explain sent', function()
    for _, m in ipairs(report.sent) do
      if m == 'workspace/executeCommand:distill.explain' or m == 'codeAction/resolve' then return true end
    end
  end)
end

vim.api.nvim_create_autocmd('VimEnter', {
  once = true,
  callback = function()
    co = coroutine.create(function()
      local ok, err = xpcall(main, debug.traceback)
      finish(not ok and tostring(err) or nil)
    end)
    vim.schedule(function() assert(coroutine.resume(co)) end)
  end,
})
