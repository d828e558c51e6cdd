// @ts-check
'use strict';
/**
 * The server settings this extension sends, built from the "distill" configuration section.
 * Shared by extension.js (real VS Code settings) and scripts/smoke-client.js (package.json defaults),
 * so both send exactly the same keys: model, profile, maxNewTokens.
 */

/** Keys of the "distill" section; each is a distill-lsp setting. */
const SETTING_KEYS = ['model', 'profile', 'maxNewTokens'];

/**
 * @typedef {{ get<T>(key: string): T | undefined }} ConfigLike
 */

/**
 * Flat settings object: initializationOptions, and the "distill" section of didChangeConfiguration.
 * @param {ConfigLike} config the "distill" section (vscode.WorkspaceConfiguration or a stand-in)
 * @returns {Record<string, unknown>}
 */
function distillSettings(config) {
  /** @type {Record<string, unknown>} */
  const out = {};
  for (const key of SETTING_KEYS) {
    const value = config.get(key);
    if (value !== undefined && value !== null) {
      out[key] = value;
    }
  }
  return out;
}

/**
 * The defaults package.json contributes for the "distill" section, as a ConfigLike.
 * @param {{ contributes: { configuration: { properties: Record<string, { default?: unknown }> }[] } }} manifest
 * @returns {ConfigLike}
 */
function manifestDefaults(manifest) {
  /** @type {Record<string, unknown>} */
  const defaults = {};
  for (const block of manifest.contributes.configuration) {
    for (const [name, schema] of Object.entries(block.properties)) {
      if (name.startsWith('distill.')) {
        defaults[name.slice('distill.'.length)] = schema.default;
      }
    }
  }
  return { get: (key) => /** @type {any} */ (defaults[key]) };
}

module.exports = { SETTING_KEYS, distillSettings, manifestDefaults };
