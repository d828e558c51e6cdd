// @ts-check
'use strict';
/**
 * distill-lsp for VS Code: starts `distill-lsp serve` (stdio) with vscode-languageclient.
 * Inline completions (ghost text), completions and the Explain / Fix / Document code actions
 * come from the server; settings under "distill.*" are sent as initializationOptions and
 * on every change (workspace/didChangeConfiguration, section "distill").
 */
const net = require('net');
const vscode = require('vscode');
const { LanguageClient, TransportKind } = require('vscode-languageclient/node');
const { distillSettings } = require('./settings');

const LANGUAGES = ['python', 'javascript', 'javascriptreact', 'typescript', 'typescriptreact',
  'go', 'rust', 'java', 'c', 'cpp'];

/** @type {LanguageClient | undefined} */
let client;

/**
 * Stdio (the extension starts `distill-lsp serve`), or TCP to a running server when
 * "distillServer.tcp" is set ("host:port"; every VS Code window then shares its model).
 * @returns {import('vscode-languageclient/node').ServerOptions}
 */
function serverOptions() {
  const server = vscode.workspace.getConfiguration('distillServer');
  const tcp = server.get('tcp', /** @type {string} */ (''));
  if (tcp) {
    const at = tcp.lastIndexOf(':');
    const host = tcp.slice(0, at);
    const port = Number(tcp.slice(at + 1));
    return () => new Promise((resolve, reject) => {
      const socket = net.connect({ host, port }, () => resolve({ reader: socket, writer: socket }));
      socket.once('error', reject);
    });
  }
  const [command, ...args] = server.get('command', ['distill-lsp', 'serve']);
  return { command, args, transport: TransportKind.stdio };
}

/**
 * initializationOptions: the settings, plus the access token of a shared server
 * (DISTILL_LSP_TOKEN in VS Code's environment; never stored in settings).
 * @returns {Record<string, unknown>}
 */
function initializationOptions() {
  const options = distillSettings(vscode.workspace.getConfiguration('distill'));
  const token = process.env.DISTILL_LSP_TOKEN;
  return token ? { ...options, token } : options;
}

/** @returns {LanguageClient} */
function createClient() {
  /** @type {import('vscode-languageclient/node').LanguageClientOptions} */
  const clientOptions = {
    documentSelector: LANGUAGES.flatMap((language) => [
      { scheme: 'file', language },
      { scheme: 'untitled', language },
    ]),
    initializationOptions,
    synchronize: { configurationSection: 'distill' },
  };
  return new LanguageClient('distill-lsp', 'distill-lsp', serverOptions(), clientOptions);
}

/** @param {vscode.ExtensionContext} context */
async function activate(context) {
  client = createClient();
  context.subscriptions.push(
    vscode.commands.registerCommand('distillClient.restart', async () => {
      await client?.restart();
    }),
    vscode.commands.registerCommand('distillClient.setProfile', async () => {
      const profile = await vscode.window.showQuickPick(['auto', 'greedy', 'precise', 'coding', 'creative']);
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
