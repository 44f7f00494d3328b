// Placeholder until the backend helper lands (see test/helpers/backend.ts).
export default async function globalTeardown(): Promise<void> {}
