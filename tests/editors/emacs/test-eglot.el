;;; test-eglot.el --- batch driver for tests/editors/test_emacs.py  -*- lexical-binding: t; -*-

;; Loads the shipped editors/emacs/distill-eglot.el, points it at the server under
;; test, opens the sample file, connects Eglot, polls `completion-at-point' until the
;; server suggests something, completes, lists code actions and runs "Explain this".
;; Writes a JSON report to $DISTILL_TEST_RESULT; the Python test asserts on it.

(require 'package)
;; -Q skips Debian's site-start, which adds the elpa-* packages (Eglot 1.9) to the package path.
(add-to-list 'package-directory-list "/usr/share/emacs/site-lisp/elpa")
(package-initialize)
(require 'json)
(require 'cl-lib)
(require 'subr-x)
(load (expand-file-name "emacs/distill-eglot.el" (getenv "DISTILL_TEST_EDITORS")) nil t)

(defvar test-report nil)
(defvar test-sent nil)
(defvar test-deadline (+ (float-time) (string-to-number (or (getenv "DISTILL_TEST_TIMEOUT") "120"))))

(defun test-put (key value) (setq test-report (plist-put test-report key value)))

(defun test-wait (what pred)
  "Poll PRED every 0.1 s until non-nil, or fail with WHAT at the deadline."
  (let (value)
    (while (not (setq value (funcall pred)))
      (when (> (float-time) test-deadline) (error "Timed out waiting for %s" what))
      (accept-process-output nil 0.1))
    value))

(advice-add 'jsonrpc-connection-send :before
            (lambda (_conn &rest args)
              (let ((method (plist-get args :method)))
                (when method
                  (push (string-remove-prefix ":" (format "%s" method)) test-sent)))))

(setq distill-lsp-command (append (json-read-from-string (getenv "DISTILL_TEST_CMD_JSON")) nil)
      eglot-connect-timeout 120
      eglot-sync-connect 120)

(defun test-candidates ()
  "The candidates of Eglot's capf at point (one fresh server request)."
  (let ((capf (eglot-completion-at-point)))
    (when capf
      (all-completions (buffer-substring-no-properties (nth 0 capf) (nth 1 capf)) (nth 2 capf)))))

(defun test-main ()
  (find-file (getenv "DISTILL_TEST_FILE"))
  (python-mode)
  (apply #'eglot (eglot--guess-contact))
  (test-wait "eglot to connect" (lambda () (eglot-current-server)))
  (test-put :connected t)
  (test-put :server (plist-get (eglot--server-info (eglot-current-server)) :name))
  (goto-char (point-min))
  (forward-line (1- (string-to-number (getenv "DISTILL_TEST_LINE"))))
  (end-of-line)
  (test-put :line_before (buffer-substring-no-properties (line-beginning-position) (line-end-position)))
  ;; The real server answers empty while its model loads: ask again until it suggests something.
  (let ((cands (test-wait "a completion candidate"
                          (lambda () (or (test-candidates) (progn (sit-for 1) nil))))))
    (test-put :candidates (vconcat cands)))
  (completion-at-point)
  (test-put :line_after (buffer-substring-no-properties (line-beginning-position) (line-end-position)))
  (let ((actions (eglot-code-actions (point-min) (point-max) nil nil)))
    (test-put :action_titles (vconcat (mapcar (lambda (a) (plist-get a :title)) actions))))
  (goto-char (point-min))
  (distill-explain)
  (test-wait "workspace/executeCommand" (lambda () (member "workspace/executeCommand" test-sent)))
  (test-put :sent (vconcat (reverse test-sent))))

(let ((error-message nil))
  (condition-case err
      (test-main)
    (error (setq error-message (error-message-string err))))
  (test-put :error error-message)
  (test-put :sent (vconcat (reverse test-sent)))
  (with-temp-file (getenv "DISTILL_TEST_RESULT")
    (insert (json-encode test-report)))
  (ignore-errors (eglot-shutdown (eglot-current-server)))
  (kill-emacs 0))
