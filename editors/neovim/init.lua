-- distill-lsp: add to ~/.config/nvim/init.lua (Neovim 0.11+; inline completion needs 0.12).
-- Needs lsp/distill.lua from this folder on the runtimepath (~/.config/nvim/lsp/distill.lua).
vim.lsp.enable('distill')

vim.api.nvim_create_autocmd('LspAttach', {
  group = vim.api.nvim_create_augroup('distill-lsp', { clear = true }),
  callback = function(args)
    local client = vim.lsp.get_client_by_id(args.data.client_id)
    if not client or client.name ~= 'distill' then
      return
    end
    local buf = args.buf
    local function map(mode, lhs, rhs, desc, opts)
      vim.keymap.set(mode, lhs, rhs, vim.tbl_extend('force', { buffer = buf, desc = 'distill: ' .. desc }, opts or {}))
    end

    local inline = vim.lsp.inline_completion -- nil before Neovim 0.12
    if inline and client:supports_method('textDocument/inlineCompletion', buf) then
      -- Ghost text while typing in insert mode; <Tab> accepts it (plain <Tab> when none is shown).
      inline.enable(true, { bufnr = buf })
      map('i', '<Tab>', function()
        if not inline.get() then
          return '<Tab>'
        end
      end, 'accept inline completion', { expr = true })
      map('i', '<M-]>', function() inline.select({ count = 1 }) end, 'next inline completion')
      map('i', '<M-[>', function() inline.select({ count = -1 }) end, 'previous inline completion')
      vim.lsp.completion.enable(true, client.id, buf, { autotrigger = false })
    else
      -- Neovim 0.11: classic completion menu, shown as you type.
      vim.lsp.completion.enable(true, client.id, buf, { autotrigger = true })
    end
    -- Classic completion on demand (also <C-x><C-o>, omnifunc is set by Neovim).
    map('i', '<C-Space>', function() vim.lsp.completion.get() end, 'completion menu')

    -- Code actions on the cursor line or the visual selection.
    local function action(title)
      return function()
        vim.lsp.buf.code_action({
          apply = true,
          filter = function(a) return a.title == title end,
        })
      end
    end
    map({ 'n', 'x' }, '<leader>ae', action('Explain this'), 'Explain this')
    map({ 'n', 'x' }, '<leader>af', action('Fix this'), 'Fix this')
    map({ 'n', 'x' }, '<leader>ad', action('Document this'), 'Document this')
    map({ 'n', 'x' }, '<leader>aa', vim.lsp.buf.code_action, 'all code actions')
  end,
})

-- Switch the sampling profile: :DistillProfile auto|greedy|precise|coding|creative
vim.api.nvim_create_user_command('DistillProfile', function(cmd)
  local client = vim.lsp.get_clients({ name = 'distill', bufnr = 0 })[1]
  if client then
    client:exec_cmd({ title = 'Set profile', command = 'distill.setProfile', arguments = { cmd.args } })
  end
end, { nargs = 1, complete = function() return { 'auto', 'greedy', 'precise', 'coding', 'creative' } end })
