-- distill-lsp for Neovim 0.11+ (`:help lsp-config`).
-- Copy this file to ~/.config/nvim/lsp/distill.lua, then call vim.lsp.enable('distill')
-- (see ../init.lua for the keymaps). Override any field with vim.lsp.config('distill', {...}).
return {
  cmd = { 'distill-lsp', 'serve' },
  -- TCP instead of stdio (start `distill-lsp serve --tcp --port 2087` yourself first): every
  -- Neovim window then shares one server process and one copy of the model.
  -- cmd = vim.lsp.rpc.connect('127.0.0.1', 2087),
  -- A team's server (`serve --tcp --host 0.0.0.0 --token-file F`, see the README's Docker section):
  -- cmd = vim.lsp.rpc.connect('gpu-box.example', 2087), and `token = os.getenv('DISTILL_LSP_TOKEN')`
  -- in init_options below (the token is not a setting: only initializationOptions carry it).
  filetypes = {
    'python', 'javascript', 'javascriptreact', 'typescript', 'typescriptreact',
    'go', 'rust', 'java', 'c', 'cpp', 'lua', 'sh',
  },
  root_markers = { '.git', 'pyproject.toml', 'package.json', 'go.mod', 'Cargo.toml' },
  -- Sent once as initializationOptions (flat object) ...
  init_options = {
    model = 'auto', -- HF id from the local cache, a model directory or a .gguf file
    profile = 'auto', -- auto | greedy | precise | coding | creative
    maxNewTokens = 64,
  },
  -- ... and under the "distill" section on workspace/didChangeConfiguration.
  settings = {
    distill = {
      model = 'auto',
      profile = 'auto',
      maxNewTokens = 64,
    },
  },
}
