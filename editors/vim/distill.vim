" distill-lsp for Vim 8.2+ (and Neovim) through ALE: completion and code actions.
" In your vimrc, before plugins load:
"   source /path/to/editors/vim/distill.vim
" Optional, set before sourcing:
"   let g:distill_lsp_command = 'distill-lsp serve'   (a shell command speaking LSP on stdio)
"   let g:distill_lsp_settings = {'model': 'auto', 'profile': 'auto', 'maxNewTokens': 64}

let g:ale_completion_enabled = get(g:, 'ale_completion_enabled', 1)  " must be set before ALE loads
silent! packadd! ale  " ALE installed as an optional package (Debian's vim-ale, or pack/*/opt/ale)

let g:distill_lsp_command = get(g:, 'distill_lsp_command', 'distill-lsp serve')
let g:distill_lsp_settings = get(g:, 'distill_lsp_settings',
      \ {'model': 'auto', 'profile': 'auto', 'maxNewTokens': 64})
let g:distill_lsp_filetypes = get(g:, 'distill_lsp_filetypes',
      \ ['python', 'javascript', 'typescript', 'go', 'rust', 'java', 'c', 'cpp'])

function! DistillLspRoot(buffer) abort
  let l:git = ale#path#FindNearestDirectory(a:buffer, '.git')
  return empty(l:git) ? fnamemodify(bufname(a:buffer), ':p:h') : fnamemodify(l:git, ':h:h')
endfunction

for s:ft in g:distill_lsp_filetypes
  call ale#linter#Define(s:ft, {
        \ 'name': 'distill_lsp',
        \ 'lsp': 'stdio',
        \ 'executable': {buffer -> split(g:distill_lsp_command)[0]},
        \ 'command': {buffer -> g:distill_lsp_command},
        \ 'project_root': function('DistillLspRoot'),
        \ 'initialization_options': {buffer -> g:distill_lsp_settings},
        \ 'lsp_config': {buffer -> {'distill': g:distill_lsp_settings}},
        \ })
endfor

" ALE runs only the linters it lists for python, go and rust: add distill_lsp to the user's
" list, or to ALE 3.3's defaults for those filetypes when the user has none.
let s:ale_default_linters = {
      \ 'python': ['flake8', 'mypy', 'pylint', 'pyright', 'ruff'],
      \ 'go': ['gofmt', 'golint', 'gopls', 'govet'],
      \ 'rust': ['cargo', 'rls'],
      \ }
let g:ale_linters = get(g:, 'ale_linters', {})
for s:ft in g:distill_lsp_filetypes
  let s:names = get(g:ale_linters, s:ft,
        \ get(g:, 'ale_linters_explicit', 0) ? [] : get(s:ale_default_linters, s:ft, 'all'))
  if type(s:names) == v:t_list && index(s:names, 'distill_lsp') < 0
    let g:ale_linters[s:ft] = s:names + ['distill_lsp']
  endif
endfor

augroup distill_lsp
  autocmd!
  " <C-x><C-o> asks the server; the suggestion is the first item.
  execute 'autocmd FileType ' . join(g:distill_lsp_filetypes, ',')
        \ . ' setlocal omnifunc=ale#completion#OmniFunc'
        \ . ' | nnoremap <buffer> <leader>aa :ALECodeAction<CR>'
        \ . ' | xnoremap <buffer> <leader>aa :ALECodeAction<CR>'
augroup END
