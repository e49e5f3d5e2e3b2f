// Lint: typescript-eslint's recommended rules plus the import directions of STYLE.md.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const RULE = '@typescript-eslint/no-restricted-imports';
const IO = ['kafkajs', 'rocksdb-native', 'rocksdb', 'node:fs', 'node:net', 'node:http', 'node:child_process', 'node:crypto'];
const rocks = { group: ['rocksdb-native', 'rocksdb'], message: 'only src/store/ touches RocksDB' };
const kafka = { group: ['kafkajs'], message: 'only src/messaging/ imports kafkajs: use its helpers and the types src/messaging/clients.ts re-exports' };
const keys = { group: ['**/store/keys'], message: "the snapshot's RocksDB layout is src/engine/layout.ts's: use its verbs, not the keys" };
// The protocol's generated types are the schemas' (the contract messaging carries), not the domain's.
const domain = { regex: '(^|/)projections(/(?!protocol\\.gen$)|$)', message: 'messaging knows nothing of the domain' };

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.cache/**', '.coord/**', 'test/bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  // projections/ decides: no I/O, nothing from the engine.
  {
    files: ['projections/**/*.ts'],
    ignores: ['projections/**/*.spec.ts'],
    rules: { [RULE]: ['error', { paths: IO, patterns: [{ group: ['**/src/**'], message: 'projections import nothing from src/' }] }] },
  },
  { files: ['src/**/*.ts'], rules: { [RULE]: ['error', { patterns: [rocks, kafka, keys] }] } },
  // The snapshot's RocksDB layout has one owner: it alone spells the keys.
  { files: ['src/engine/layout.ts'], rules: { [RULE]: ['error', { patterns: [rocks, kafka] }] } },
  { files: ['src/messaging/**/*.ts'], rules: { [RULE]: ['error', { patterns: [rocks, domain] }] } },
  { files: ['src/store/**/*.ts'], rules: { [RULE]: ['error', { patterns: [kafka, domain] }] } },
);
