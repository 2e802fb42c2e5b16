// One resplay process per Vitest worker for the run; `globals` gives
// useResplay() the hooks and expect.
module.exports = {
  test: {
    globals: true,
    globalSetup: ['resplay/vitest-global-setup.js'],
  },
};
