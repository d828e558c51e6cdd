;;; distill-lsp-mode.el --- distill-lsp with lsp-mode  -*- lexical-binding: t; -*-

;; For lsp-mode users (M-x package-install RET lsp-mode).  Load it from your init file:
;;   (load "/path/to/editors/emacs/distill-lsp-mode.el")
;; distill runs as an add-on server next to your usual one (:add-on? t).

;;; Code:

(require 'lsp-mode)

(defgroup distill-lsp nil "distill-lsp settings." :group 'lsp-mode)

(defcustom distill-lsp-model "auto"
  "Model: \"auto\", a Hugging Face id from the local cache, a directory or a .gguf file."
  :type 'string :group 'distill-lsp)

(defcustom distill-lsp-profile "auto"
  "Sampling profile: auto (greedy on code, coding in comments), greedy, precise, coding or creative."
  :type '(choice (const "auto") (const "greedy") (const "precise") (const "coding") (const "creative"))
  :group 'distill-lsp)

(defcustom distill-lsp-max-new-tokens 64
  "Most tokens generated for one completion."
  :type 'integer :group 'distill-lsp)

;; Sent under the "distill" section of workspace/didChangeConfiguration.
(lsp-register-custom-settings
 '(("distill.model" distill-lsp-model)
   ("distill.profile" distill-lsp-profile)
   ("distill.maxNewTokens" distill-lsp-max-new-tokens)))

(lsp-register-client
 (make-lsp-client
  :new-connection (lsp-stdio-connection '("distill-lsp" "serve"))
  ;; TCP: (lsp-tcp-connection (lambda (port) (list "distill-lsp" "serve" "--tcp" "--port" (number-to-string port))))
  :activation-fn (lsp-activate-on "python" "javascript" "typescript" "go" "rust" "java" "c" "cpp")
  :server-id 'distill-lsp
  :add-on? t
  :priority -1
  :initialization-options (lambda () (list :model distill-lsp-model
                                           :profile distill-lsp-profile
                                           :maxNewTokens distill-lsp-max-new-tokens))
  :initialized-fn (lambda (workspace)
                    (with-lsp-workspace workspace
                      (lsp--set-configuration (lsp-configuration-section "distill"))))))

;; Inline completion (lsp-mode 9.0.1+): M-x lsp-inline-completion-display, or
;;   (add-hook 'lsp-mode-hook #'lsp-inline-completion-mode)
;; Code actions: M-x lsp-execute-code-action, then "Explain this" / "Fix this" / "Document this".

(provide 'distill-lsp-mode)
;;; distill-lsp-mode.el ends here
