" Vim (-es) driver for tests/editors/test_vim.py: ALE omni completion with editors/vim/distill.vim.
" Sources the shipped config, overriding only the server command and the fast settings
" ($DISTILL_TEST_SETTINGS_JSON merged into g:distill_lsp_settings), then polls <C-x><C-o> at
" the end of the target line until the server's suggestion fills it, and writes a JSON
" report to $DISTILL_TEST_RESULT.
set nocompatible
let g:distill_lsp_command = $DISTILL_TEST_CMD
execute 'source ' . fnameescape($DISTILL_TEST_EDITORS . '/vim/distill.vim')
call extend(g:distill_lsp_settings, json_decode($DISTILL_TEST_SETTINGS_JSON))
filetype plugin on

function! s:Report(report) abort
  call writefile([json_encode(a:report)], $DISTILL_TEST_RESULT)
endfunction

function! s:Main() abort
  let l:start = reltime()
  let l:report = {'tries': 0, 'error': v:null, 'settings': g:distill_lsp_settings}
  execute 'edit ' . fnameescape($DISTILL_TEST_FILE)
  let l:line = str2nr($DISTILL_TEST_LINE)
  let l:report.filetype = &filetype
  let l:report.omnifunc = &omnifunc
  let l:report.line_before = getline(l:line)
  let l:deadline = str2float($DISTILL_TEST_TIMEOUT)
  while getline(l:line) is# l:report.line_before
    if reltimefloat(reltime(l:start)) > l:deadline
      let l:report.error = 'timed out waiting for the omni completion to fill the line'
      break
    endif
    let l:report.tries += 1
    call cursor(l:line, 1)
    call feedkeys("A\<C-x>\<C-o>", 'xt')
    if getline(l:line) is# l:report.line_before
      sleep 500m
    endif
  endwhile
  let l:report.seconds = reltimefloat(reltime(l:start))
  let l:report.line_after = getline(l:line)
  let l:report.linters = map(ale#linter#Get(&filetype), 'v:val.name')
  let l:report.ale_completion_result = get(b:, 'ale_completion_result', v:null)
  call s:Report(l:report)
endfunction

function! s:Run() abort
  try
    call s:Main()
  catch
    call s:Report({'error': v:exception . ' at ' . v:throwpoint})
  endtry
  qall!
endfunction

" After the vimrc: plugins (ALE) are loaded by then.
autocmd VimEnter * ++nested call s:Run()
