;;; distill-eglot.el --- distill-lsp with Eglot  -*- lexical-binding: t; -*-

;; Works with Emacs 28 + Eglot 1.9 (Debian: emacs-nox elpa-eglot) and with the
;; Eglot built into Emacs 29+.  Load it from your init file:
;;   (load "/path/to/editors/emacs/distill-eglot.el")
;; then M-x eglot in a Python (or JS/TS/Go/Rust/Java/C/C++) buffer, or add
;;   (add-hook 'python-mode-hook #'eglot-ensure)

;;; Code:

(require 'eglot)
(require 'cl-lib)

(defvar distill-lsp-command '("distill-lsp" "serve")
  "How to start the server.  For TCP: (\"distill-lsp\" \"serve\" \"--tcp\" \"--port\" :autoport)
or, for a server you started yourself, (\"127.0.0.1\" 2087).")

(defvar distill-lsp-settings '(:model "auto" :profile "auto" :maxNewTokens 64)
  "Server settings: sent as initializationOptions and as the \"distill\" section.
Keys: :model (\"auto\", a Hugging Face id from the local cache, a directory or a
.gguf file), :profile (\"auto\" \"greedy\" \"precise\" \"coding\" \"creative\"), :maxNewTokens.")

(defvar distill-lsp-modes
  '(python-mode python-ts-mode js-mode js-ts-mode typescript-mode typescript-ts-mode
    go-mode go-ts-mode rust-mode rust-ts-mode java-mode java-ts-mode
    c-mode c-ts-mode c++-mode c++-ts-mode)
  "Major modes that use distill-lsp (Eglot runs one server per buffer).")

(defvar distill-lsp-token (getenv "DISTILL_LSP_TOKEN")
  "Access token of a shared server (`distill-lsp serve --tcp --host 0.0.0.0 --token-file F'):
the contents of F, sent as initializationOptions.token.  nil for a local server.
A team server: (setq distill-lsp-command '(\"gpu-box\" 2087)) and DISTILL_LSP_TOKEN in the environment.")

(defun distill-lsp-contact (&optional _interactive)
  "The Eglot contact for distill-lsp, built from `distill-lsp-command'."
  (append distill-lsp-command
          (list :initializationOptions
                (if distill-lsp-token (append (list :token distill-lsp-token) distill-lsp-settings)
                  distill-lsp-settings))))

(add-to-list 'eglot-server-programs (cons distill-lsp-modes #'distill-lsp-contact))

;; workspace/didChangeConfiguration and workspace/configuration: section "distill".
(setq-default eglot-workspace-configuration
              (lambda (&rest _) (list :distill distill-lsp-settings)))

(defun distill-lsp--run-command (server command arguments)
  "Send COMMAND with ARGUMENTS to SERVER without freezing Emacs.
The model may take longer than Eglot's synchronous request timeout; the server
delivers the result itself (workspace/applyEdit, window/showDocument or a message)."
  (jsonrpc-async-request
   server :workspace/executeCommand (list :command command :arguments arguments)
   :success-fn (lambda (_result) (message "distill: %s done" command))
   :error-fn (lambda (err) (message "distill: %s: %s" command (plist-get err :message)))
   :timeout 600))

(defun distill-lsp--execute (server action)
  "Run ACTION (a Command or a CodeAction plist) on SERVER."
  (let ((edit (plist-get action :edit))
        (command (plist-get action :command)))
    (when edit (eglot--apply-workspace-edit edit))
    (cond ((stringp command)            ; a bare Command
           (distill-lsp--run-command server command (plist-get action :arguments)))
          (command
           (distill-lsp--run-command server (plist-get command :command)
                                     (plist-get command :arguments))))))

(defun distill-lsp-code-action (title)
  "Run the distill code action called TITLE on the region or the current line."
  (let* ((beg (if (use-region-p) (region-beginning) (line-beginning-position)))
         (end (if (use-region-p) (region-end) (line-end-position)))
         (actions (eglot-code-actions beg end nil nil))
         (action (cl-find title actions :key (lambda (a) (plist-get a :title)) :test #'equal)))
    (if action
        (distill-lsp--execute (eglot--current-server-or-lose) action)
      (user-error "distill: no \"%s\" action here" title))))

(defun distill-explain () "Explain the region or line." (interactive) (distill-lsp-code-action "Explain this"))
(defun distill-fix () "Fix the region or line." (interactive) (distill-lsp-code-action "Fix this"))
(defun distill-document () "Document the region or line." (interactive) (distill-lsp-code-action "Document this"))

(defun distill-set-profile (profile)
  "Switch the sampling PROFILE of the running server."
  (interactive (list (completing-read "Profile: " '("auto" "greedy" "precise" "coding" "creative"))))
  (eglot-execute-command (eglot--current-server-or-lose) 'distill.setProfile (vector profile)))

(with-eval-after-load 'eglot
  (define-key eglot-mode-map (kbd "C-c a e") #'distill-explain)
  (define-key eglot-mode-map (kbd "C-c a f") #'distill-fix)
  (define-key eglot-mode-map (kbd "C-c a d") #'distill-document)
  (define-key eglot-mode-map (kbd "C-c a a") #'eglot-code-actions))

(provide 'distill-eglot)
;;; distill-eglot.el ends here
