// npm aliases of older majors kept in devDependencies so tests run on both; the
// tests cast them to the current majors' types where they use them.
declare module 'express4' {
  const express: unknown;
  export default express;
}
declare module 'passport06' {
  const passport: unknown;
  export default passport;
}
