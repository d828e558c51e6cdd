;;; test-eglot.el --- batch driver for tests/editors/test_emacs.py  -*- lexical-binding: t; -*-

;; Loads the shipped editors/emacs/distill-eglot.el, overriding only `distill-lsp-command'
;; and the fast settings ($DISTILL_TEST_SETTINGS_JSON merged into `distill-lsp-settings'),
;; opens the sample file, connects Eglot, then runs the phases in $DISTILL_TEST_PHASES
;; (default all), each recording its own error:
;;   completion: poll `completion-at-point' until the server suggests something, complete;
;;   actions:    `eglot-code-actions' lists the titles;
;;   explain:    `distill-explain' sends workspace/executeCommand.
;; Writes a JSON report to $DISTILL_TEST_RESULT; the Python test asserts on it.

(require 'package)
;; -Q skips Debian's site-start, which adds the elpa-* packages (Eglot 1.9) to the package path.
(add-to-list 'package-directory-list "/usr/share/emacs/site-lisp/elpa")
(package-initialize)
(require 'json)
(require 'cl-lib)
(require 'subr-x)
(load (expand-file-name "emacs/distill-eglot.el" (getenv "DISTILL_TEST_EDITORS")) nil t)

(defvar dtest-report nil)
(defvar dtest-sent nil)
(defvar dtest-done nil)
(defvar dtest-errors nil)
(defvar dtest-steps nil)
(defvar dtest-start (float-time))
(defvar dtest-timeout (string-to-number (or (getenv "DISTILL_TEST_TIMEOUT") "120")))
(defvar dtest-actions-timeout (string-to-number (or (getenv "DISTILL_TEST_ACTIONS_TIMEOUT") "20")))

(defun dtest-put (key value) (setq dtest-report (plist-put dtest-report key value)))

(defun dtest-wait (what pred &optional limit)
  "Poll PRED every 0.1 s until non-nil, or fail with WHAT after LIMIT seconds."
  (let ((deadline (+ (float-time) (or limit dtest-timeout))) value)
    (while (not (setq value (funcall pred)))
      (when (> (float-time) deadline) (error "Timed out waiting for %s" what))
      (accept-process-output nil 0.1))
    value))

(advice-add 'jsonrpc-connection-send :before
            (lambda (_conn &rest args)
              (let ((method (plist-get args :method)))
                (when method
                  (when (eq method :initialize)
                    (dtest-put :init_options (plist-get (plist-get args :params) :initializationOptions)))
                  (push (string-remove-prefix ":" (format "%s" method)) dtest-sent)))))

;; The overrides: the server command and the fast settings, merged over the shipped ones.
(setq distill-lsp-command (append (json-read-from-string (getenv "DISTILL_TEST_CMD_JSON")) nil))
(let ((fast (let ((json-object-type 'plist)) (json-read-from-string (getenv "DISTILL_TEST_SETTINGS_JSON"))))
      (merged (copy-sequence distill-lsp-settings)))
  (while fast
    (setq merged (plist-put merged (pop fast) (pop fast))))
  (setq distill-lsp-settings merged))
(setq eglot-connect-timeout dtest-timeout
      eglot-sync-connect dtest-timeout)

(defun dtest-candidates ()
  "The candidates of Eglot's capf at point (one fresh server request)."
  (let ((capf (eglot-completion-at-point)))
    (when capf
      (all-completions (buffer-substring-no-properties (nth 0 capf) (nth 1 capf)) (nth 2 capf)))))

(defun dtest-connect ()
  (find-file (getenv "DISTILL_TEST_FILE"))
  (python-mode)
  (apply #'eglot (eglot--guess-contact))
  (dtest-wait "eglot to connect" (lambda () (eglot-current-server)))
  (dtest-put :connected t)
  (dtest-put :settings distill-lsp-settings)
  (dtest-put :server (plist-get (eglot--server-info (eglot-current-server)) :name)))

(defun dtest-completion ()
  (goto-char (point-min))
  (forward-line (1- (string-to-number (getenv "DISTILL_TEST_LINE"))))
  (end-of-line)
  (dtest-put :line_before (buffer-substring-no-properties (line-beginning-position) (line-end-position)))
  ;; The real server answers empty while its model loads: ask again until it suggests something.
  (let ((cands (dtest-wait "a completion candidate"
                          (lambda () (or (dtest-candidates) (progn (sit-for 0.5) nil))))))
    (dtest-put :candidates (vconcat cands)))
  (completion-at-point)
  (dtest-put :line_after (buffer-substring-no-properties (line-beginning-position) (line-end-position))))

(defun dtest-actions ()
  (let ((actions (eglot-code-actions (point-min) (point-max) nil nil)))
    (dtest-put :action_titles (vconcat (mapcar (lambda (a) (plist-get a :title)) actions)))
    (unless actions (error "No code actions"))))

(defun dtest-explain ()
  (unless (plist-get dtest-report :action_titles) (error "Skipped: no code actions listed"))
  (goto-char (point-min))
  (distill-explain)
  (dtest-wait "workspace/executeCommand" (lambda () (member "workspace/executeCommand" dtest-sent))
             dtest-actions-timeout))

(defun dtest-phase (name fn)
  "Run FN; record NAME as done or its error.  Return non-nil when it succeeded."
  (condition-case err
      (progn (funcall fn)
             (push name dtest-done)
             (push (format "%s %.1fs" name (- (float-time) dtest-start)) dtest-steps)
             t)
    (error (push (cons (intern name) (error-message-string err)) dtest-errors) nil)))

(defun dtest-main ()
  (when (dtest-phase "connect" #'dtest-connect)
    (dolist (phase (split-string (or (getenv "DISTILL_TEST_PHASES") "completion,actions,explain") ","))
      (dtest-phase phase (intern (concat "dtest-" phase))))))

(setq dtest-report (list :connected :json-false))
(dtest-main)
(dtest-put :steps (vconcat (reverse dtest-steps)))
(dtest-put :done (vconcat (reverse dtest-done)))
(dtest-put :errors (or dtest-errors (make-hash-table)))
(dtest-put :sent (vconcat (reverse dtest-sent)))
(with-temp-file (getenv "DISTILL_TEST_RESULT")
  (insert (json-encode dtest-report)))
(ignore-errors (eglot-shutdown (eglot-current-server)))
(kill-emacs 0)
