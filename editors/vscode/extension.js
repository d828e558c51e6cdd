// @ts-check
'use strict';
/**
 * distill-lsp for VS Code: starts `distill-lsp serve` (stdio) with vscode-languageclient.
 * Inline completions (ghost text), completions and the Explain / Fix / Document code actions
 * come from the server; settings under "distill.*" are sent as initializationOptions and
 * on every change (workspace/didChangeConfiguration, section "distill").
 */
const vscode = require('vscode');
const { LanguageClient, TransportKind } = require('vscode-languageclient/node');
const { distillSettings } = require('./settings');

const LANGUAGES = ['python', 'javascript', 'javascriptreact', 'typescript', 'typescriptreact',
  'go', 'rust', 'java', 'c', 'cpp'];

/** @type {LanguageClient | undefined} */
let client;

/** @returns {LanguageClient} */
function createClient() {
  const [command, ...args] = vscode.workspace.getConfiguration('distillServer')
    .get('command', ['distill-lsp', 'serve']);
  /** @type {import('vscode-languageclient/node').ServerOptions} */
  const serverOptions = { command, args, transport: TransportKind.stdio };
  /** @type {import('vscode-languageclient/node').LanguageClientOptions} */
  const clientOptions = {
    documentSelector: LANGUAGES.flatMap((language) => [
      { scheme: 'file', language },
      { scheme: 'untitled', language },
    ]),
    initializationOptions: () => distillSettings(vscode.workspace.getConfiguration('distill')),
    synchronize: { configurationSection: 'distill' },
  };
  return new LanguageClient('distill-lsp', 'distill-lsp', serverOptions, clientOptions);
}

/** @param {vscode.ExtensionContext} context */
async function activate(context) {
  client = createClient();
  context.subscriptions.push(
    vscode.commands.registerCommand('distillClient.restart', async () => {
      await client?.restart();
    }),
    vscode.commands.registerCommand('distillClient.setProfile', async () => {
      const profile = await vscode.window.showQuickPick(['greedy', 'precise', 'coding', 'creative']);
      if (profile && client) {
        await client.sendRequest('workspace/executeCommand', { command: 'distill.setProfile', arguments: [profile] });
      }
    }),
  );
  await client.start();
}

async function deactivate() {
  await client?.stop();
}

module.exports = { activate, deactivate };
