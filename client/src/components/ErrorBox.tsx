interface ErrorBoxProps {
  title?: string;
  message: string;
}

export function ErrorBox({ title, message }: ErrorBoxProps) {
  return (
    <div className="error-box" role="alert">
      {title ? <strong className="error-title">{title}</strong> : null}
      <span className="error-message">{message}</span>
    </div>
  );
}
