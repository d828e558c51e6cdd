-- distill-lsp for Neovim 0.11+ (`:help lsp-config`).
-- Copy this file to ~/.config/nvim/lsp/distill.lua, then call vim.lsp.enable('distill')
-- (see ../init.lua for the keymaps). Override any field with vim.lsp.config('distill', {...}).
return {
  cmd = { 'distill-lsp', 'serve' },
  -- TCP instead of stdio (start `distill-lsp serve --tcp --port 2087` yourself first):
  -- cmd = vim.lsp.rpc.connect('127.0.0.1', 2087),
  filetypes = {
    'python', 'javascript', 'javascriptreact', 'typescript', 'typescriptreact',
    'go', 'rust', 'java', 'c', 'cpp', 'lua', 'sh',
  },
  root_markers = { '.git', 'pyproject.toml', 'package.json', 'go.mod', 'Cargo.toml' },
  -- Sent once as initializationOptions (flat object) ...
  init_options = {
    model = 'auto', -- HF id from the local cache, a model directory or a .gguf file
    profile = 'coding', -- greedy | precise | coding | creative
    maxNewTokens = 64,
  },
  -- ... and under the "distill" section on workspace/didChangeConfiguration.
  settings = {
    distill = {
      model = 'auto',
      profile = 'coding',
      maxNewTokens = 64,
    },
  },
}
