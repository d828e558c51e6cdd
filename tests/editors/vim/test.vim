" Vim (-es) driver for tests/editors/test_vim.py: ALE omni completion with editors/vim/distill.vim.
" Polls <C-x><C-o> at the end of the target line until the server's suggestion fills it,
" then writes a JSON report to $DISTILL_TEST_RESULT.
set nocompatible
let g:distill_lsp_command = $DISTILL_TEST_CMD
let g:ale_linters_explicit = 1
let g:ale_linters = {'python': ['distill_lsp']}
execute 'source ' . fnameescape($DISTILL_TEST_EDITORS . '/vim/distill.vim')
filetype plugin on

function! s:Report(report) abort
  call writefile([json_encode(a:report)], $DISTILL_TEST_RESULT)
endfunction

function! s:Main() abort
  let l:report = {'tries': 0, 'error': v:null}
  execute 'edit ' . fnameescape($DISTILL_TEST_FILE)
  let l:line = str2nr($DISTILL_TEST_LINE)
  let l:report.filetype = &filetype
  let l:report.omnifunc = &omnifunc
  let l:report.line_before = getline(l:line)
  let l:deadline = reltimefloat(reltime()) + str2float($DISTILL_TEST_TIMEOUT)
  while getline(l:line) is# l:report.line_before
    if reltimefloat(reltime()) > l:deadline
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
