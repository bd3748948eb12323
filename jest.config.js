/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': 'ts-jest' },
  // Type errors are caught once by `tsc --noEmit` in `npm test`; ts-jest only transpiles.
  testTimeout: 30000,
};
