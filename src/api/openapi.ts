/**
 * The API's OpenAPI 3.1 description, served at /api/v1/openapi.json. Its schemas are JSON Schema
 * 2020-12 (3.1's dialect): test/api.test.ts validates real answers against them.
 */
const error = { $ref: '#/components/schemas/Error' } as const;
const json = (schema: object) => ({ content: { 'application/json': { schema } } });
const failure = (description: string) => ({ description, ...json(error) });
const tabloId = { name: 'tabloId', in: 'path', required: true, schema: { type: 'integer', minimum: 1 } } as const;
const messageId = { name: 'messageId', in: 'path', required: true, schema: { type: 'integer', minimum: 1 } } as const;
const seqParameter = (name: string, description: string) => ({ name, in: 'query', required: false, description, schema: { type: 'integer', minimum: 0 } });
const common = {
  '401': failure('No token, or an unknown or revoked one.'),
  '404': failure('No such tablo (or not a member of it), message or route.'),
  '503': failure('The database is unreachable; retry after Retry-After seconds.'),
};

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'Tablo API',
    version: '1.0.0',
    description:
      'Tablos, their messages and their event stream, for bots and scripts. Every route but this document needs `Authorization: Bearer tablo_…` (a personal token from /settings/tokens, or a bot\'s). Cookies are ignored.',
  },
  servers: [{ url: '/api/v1' }],
  security: [{ bearer: [] }],
  paths: {
    '/tablos': {
      get: {
        summary: 'The tablos the token’s account is a member of',
        responses: {
          '200': { description: 'The tablos', ...json({ type: 'object', required: ['tablos'], additionalProperties: false, properties: { tablos: { type: 'array', items: { $ref: '#/components/schemas/Tablo' } } } }) },
          ...common,
        },
      },
    },
    '/tablos/{tabloId}/messages': {
      parameters: [tabloId],
      get: {
        summary: 'Messages, oldest first (deleted ones left out)',
        parameters: [
          seqParameter('after', 'Messages whose seq is above this one.'),
          seqParameter('before', 'Messages whose seq is below this one (the newest of them). Not with `after`.'),
          { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 100, default: 50 } },
        ],
        responses: {
          '200': { description: 'A page of messages', ...json({ $ref: '#/components/schemas/Messages' }) },
          '422': failure('A parameter is out of range.'),
          ...common,
        },
      },
      post: {
        summary: 'Post a message (idempotent with client_token)',
        requestBody: {
          required: true,
          ...json({
            type: 'object',
            required: ['body'],
            properties: {
              body: { type: 'string', description: '1–5000 characters after trimming (Markdown).' },
              client_token: { type: 'string', maxLength: 64, description: 'The same token again answers the message it stored (200).' },
              reply_to: { type: ['integer', 'null'], minimum: 1, description: 'A message of this tablo.' },
            },
          }),
        },
        responses: {
          '201': { description: 'Stored', ...json({ $ref: '#/components/schemas/MessageAnswer' }) },
          '200': { description: 'Stored before, with this client_token', ...json({ $ref: '#/components/schemas/MessageAnswer' }) },
          '422': failure('Invalid input; nothing stored.'),
          '429': { ...failure('Over the posting limit; wait Retry-After seconds.'), headers: { 'Retry-After': { schema: { type: 'integer' } } } },
          ...common,
        },
      },
    },
    '/tablos/{tabloId}/files': {
      parameters: [tabloId],
      post: {
        summary: 'Post files: each file becomes a message of its own (the caption goes with the first)',
        requestBody: {
          required: true,
          content: {
            'multipart/form-data': {
              schema: {
                type: 'object',
                required: ['file'],
                properties: {
                  file: { type: 'array', items: { type: 'string', format: 'binary' }, description: 'One or more files, each at most MAX_UPLOAD_MB.' },
                  body: { type: 'string', description: 'An optional caption (Markdown, at most 5000 characters).' },
                  client_token: { type: 'string', maxLength: 64, description: 'The same token again answers the messages it stored (200).' },
                },
              },
            },
          },
        },
        responses: {
          '201': { description: 'Stored', ...json({ $ref: '#/components/schemas/Messages' }) },
          '200': { description: 'Stored before, with this client_token', ...json({ $ref: '#/components/schemas/Messages' }) },
          '413': failure('Larger than MAX_UPLOAD_MB; nothing stored.'),
          '422': failure('No file, or invalid fields; nothing stored.'),
          '429': { ...failure('Over the posting limit (each file counts); wait Retry-After seconds.'), headers: { 'Retry-After': { schema: { type: 'integer' } } } },
          ...common,
        },
      },
    },
    '/tablos/{tabloId}/messages/{messageId}': {
      parameters: [tabloId, messageId],
      patch: {
        summary: 'Edit a message (its author only)',
        requestBody: { required: true, ...json({ type: 'object', required: ['body'], properties: { body: { type: 'string' } } }) },
        responses: {
          '200': { description: 'Edited', ...json({ $ref: '#/components/schemas/MessageAnswer' }) },
          '403': failure('Not its author.'),
          '422': failure('Invalid input.'),
          ...common,
        },
      },
      delete: {
        summary: 'Delete a message (its author or the tablo’s owner)',
        responses: { '204': { description: 'Deleted' }, '403': failure('Neither its author nor the owner.'), ...common },
      },
    },
    '/tablos/{tabloId}/events': {
      parameters: [tabloId],
      get: {
        summary: 'The tablo’s events as Server-Sent Events',
        description:
          'Each change to the discussion is an event: `id: {seq}`, `event: message.created|message.updated|message.deleted`, one `data:` line of JSON (`ChangeEvent`). Resumes after `max(after, Last-Event-ID)`; more than 500 to replay sends `event: resync` with `id: {newest seq}` instead (re-read the messages), then goes on live. `: keep-alive` comments while idle.',
        parameters: [seqParameter('after', 'Resume after this seq.'), { name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'string' } }],
        responses: {
          '200': { description: 'The stream', content: { 'text/event-stream': { schema: { type: 'string', description: 'Events whose data is a ChangeEvent.' } } } },
          '429': failure('Too many open streams.'),
          ...common,
        },
      },
    },
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'tablo_… (256 random bits, base64url)' } },
    schemas: {
      Error: { type: 'object', required: ['error'], properties: { error: { type: 'string' } } },
      Tablo: {
        type: 'object',
        required: ['id', 'title', 'last_seq'],
        additionalProperties: false,
        properties: { id: { type: 'integer', minimum: 1 }, title: { type: 'string' }, last_seq: { type: 'integer', minimum: 0 } },
      },
      Message: {
        type: 'object',
        required: ['id', 'seq', 'version', 'author', 'body', 'created_at', 'edited_at', 'deleted', 'reply_to', 'reactions', 'attachments'],
        additionalProperties: false,
        properties: {
          id: { type: 'integer', minimum: 1 },
          seq: { type: 'integer', minimum: 1, description: 'The seq of its creation.' },
          version: { type: 'integer', minimum: 1, description: '1 when posted, +1 with every change.' },
          author: {
            type: 'object',
            required: ['id', 'name', 'handle'],
            additionalProperties: false,
            properties: { id: { type: 'integer', minimum: 1 }, name: { type: 'string' }, handle: { type: 'string' } },
          },
          body: { type: ['string', 'null'], description: 'null once deleted.' },
          created_at: { type: 'string', format: 'date-time' },
          edited_at: { type: ['string', 'null'], format: 'date-time' },
          deleted: { type: 'boolean' },
          reply_to: { type: ['integer', 'null'], minimum: 1 },
          reactions: {
            type: 'array',
            items: {
              type: 'object',
              required: ['emoji', 'count', 'user_ids'],
              additionalProperties: false,
              properties: { emoji: { type: 'string' }, count: { type: 'integer', minimum: 1 }, user_ids: { type: 'array', items: { type: 'integer' } } },
            },
          },
          attachments: {
            type: 'array',
            description: 'The file this message carries (each file is a message of its own); empty once deleted.',
            items: {
              type: 'object',
              required: ['id', 'name', 'type', 'size', 'url', 'thumbnail_url'],
              additionalProperties: false,
              properties: {
                id: { type: 'integer', minimum: 1 },
                name: { type: 'string' },
                type: { type: 'string', description: 'Sniffed from the bytes, never taken from the upload.' },
                size: { type: 'integer', minimum: 0 },
                url: { type: 'string' },
                thumbnail_url: { type: ['string', 'null'] },
              },
            },
          },
        },
      },
      Messages: { type: 'object', required: ['messages'], additionalProperties: false, properties: { messages: { type: 'array', items: { $ref: '#/components/schemas/Message' } } } },
      MessageAnswer: { type: 'object', required: ['message'], additionalProperties: false, properties: { message: { $ref: '#/components/schemas/Message' } } },
      ChangeEvent: {
        type: 'object',
        required: ['seq', 'type', 'message'],
        additionalProperties: false,
        properties: {
          seq: { type: 'integer', minimum: 1 },
          type: { enum: ['message.created', 'message.updated', 'message.deleted'] },
          message: { $ref: '#/components/schemas/Message' },
        },
      },
    },
  },
} as const;
